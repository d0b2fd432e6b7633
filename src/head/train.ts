import { DatasetError, UsageError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { Adam, ADAM_DEFAULTS } from './adam.js';
import { cloneHead, createHead } from './init.js';
import { sampleCount } from './predict.js';
import { balancedOrder } from './sampler.js';
import { checkHeadSpec } from './spec-check.js';
import { removeDirections, type SourceDirections } from './source-null.js';
import { convSteps, linearSteps } from './train-steps.js';
import type { Head, HeadSpec } from './types.js';

/** A feature set with one class label (0 = non-COVID, 1 = COVID) per sample. */
export interface LabelledFeatures {
  /** n samples, contiguous: n x C (pooled) or n x C x H x W (map, channel-major). */
  features: Float32Array;
  labels: ArrayLike<number>;
}

/** One epoch's numbers. */
export interface EpochRecord {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training loss of the epoch (batch losses weighted by batch size, dropout on). */
  trainLoss: number;
  /** Loss over the whole validation set in eval mode (class-weighted mean when class weights are set). */
  valLoss: number;
  /** Fraction of validation samples whose larger logit is the true class. */
  valAccuracy: number;
  /** True when this epoch's validation loss is the lowest so far (its weights are kept). */
  improved: boolean;
}

/** Training settings; every field has the Deep-COVID default. */
export interface TrainOptions {
  /** Seed of initialisation, shuffling and dropout (default 0). */
  seed: number;
  epochs: number;
  batchSize: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Per-class loss weights [non-COVID, COVID], as torch CrossEntropyLoss(weight=). */
  classWeights?: [number, number];
  /** Overrides the spec's dropout probability. */
  dropout?: number;
  /**
   * Group id (0..g-1) of each training sample: when given, every epoch draws the groups equally
   * (balancedOrder) instead of shuffling the samples once each. For source-balanced training.
   */
  sampleGroups?: ArrayLike<number>;
  /**
   * Channel directions the head must not read (source nulling, source-null.ts): the weight rows are
   * kept orthogonal to them, from the initialisation and after every update.
   */
  nullDirections?: Pick<SourceDirections, 'dim' | 'count' | 'directions'>;
  /** Start from these weights instead of a fresh PyTorch-default initialisation (copied, not modified). */
  initialHead?: Head;
  /** Called after every epoch (progress bars). */
  onEpoch?: (record: EpochRecord, epochs: number) => void;
}

/** Defaults of the Deep-COVID protocol. */
export const TRAIN_DEFAULTS: Readonly<TrainOptions> = {
  seed: 0,
  epochs: 100,
  batchSize: 20,
  lr: ADAM_DEFAULTS.lr,
  beta1: ADAM_DEFAULTS.beta1,
  beta2: ADAM_DEFAULTS.beta2,
  eps: ADAM_DEFAULTS.eps,
  weightDecay: 0,
};

/** What training returns. */
export interface TrainResult {
  /** Weights of the epoch with the lowest validation loss. */
  head: Head;
  /** 1-based epoch whose weights are in `head`. */
  bestEpoch: number;
  bestValLoss: number;
  history: EpochRecord[];
  /** Weights after the last epoch. */
  lastHead: Head;
}

/**
 * Trains a new 2-class head on cached features with Adam and softmax cross-entropy, shuffling every
 * epoch (last partial batch kept) and keeping the weights of the epoch with the lowest validation loss.
 * Same seed and data give bit-identical weights.
 */
export function trainHead(spec: HeadSpec, train: LabelledFeatures, val: LabelledFeatures, opts: Partial<TrainOptions> = {}): TrainResult {
  const o: TrainOptions = { ...TRAIN_DEFAULTS, ...opts };
  checkOptions(o);
  const rng = new Rng(o.seed);
  const initRng = rng.fork();
  const shuffleRng = rng.fork();
  const dropRng = rng.fork();
  const base: HeadSpec = { ...spec, dropout: o.dropout ?? spec.dropout };
  checkHeadSpec(base);
  const head = o.initialHead ? { ...cloneHead(o.initialHead), dropout: base.dropout } : createHead(base, initRng);
  if (o.initialHead) checkSameShape(head, base);
  const nulls = o.nullDirections && o.nullDirections.count > 0 ? o.nullDirections : null;
  if (nulls && nulls.dim !== head.inChannels) throw new UsageError(`training option nullDirections has directions of ${nulls.dim} channels for a head of ${head.inChannels}`);
  if (nulls) removeDirections(head.weight, nulls);

  const n = sampleCount(head, train.features, 'training features');
  const nVal = sampleCount(head, val.features, 'validation features');
  const yTrain = checkLabels(train.labels, n, 'training');
  const yVal = checkLabels(val.labels, nVal, 'validation');
  if (n === 0) throw new DatasetError('training features: the training set is empty; add images to the training split');
  if (nVal === 0) throw new DatasetError('validation features: the validation set is empty; add images to the validation split');
  const cw = o.classWeights ?? [1, 1];
  if (o.sampleGroups && o.sampleGroups.length !== n) throw new UsageError(`training option sampleGroups has ${o.sampleGroups.length} entries for ${n} training samples`);

  const adamOpts = { lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay };
  const step = head.kind === 'squeezenet-conv'
    ? convSteps(head, train.features, n, val.features, nVal, yTrain, cw, dropRng)
    : linearSteps(head, train.features, val.features, yTrain, cw, o.batchSize, dropRng);
  const adam = new Adam([head.weight, head.bias], adamOpts);
  const grads = [step.gradWeight, step.gradBias];
  const order = new Int32Array(n);
  const valLogits = new Float64Array(2 * nVal);
  const best = cloneHead(head);
  let bestEpoch = 0;
  let bestValLoss = Infinity;
  const history: EpochRecord[] = [];

  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    if (o.sampleGroups) balancedOrder(o.sampleGroups, shuffleRng, order);
    else {
      for (let i = 0; i < n; i++) order[i] = i;
      shuffleRng.shuffle(order);
    }
    let lossSum = 0;
    for (let start = 0; start < n; start += o.batchSize) {
      const end = Math.min(n, start + o.batchSize);
      let wsum = 0;
      for (let i = start; i < end; i++) wsum += cw[yTrain[order[i]]];
      const coef = 1 / wsum;
      const batchLoss = step.batch(order.subarray(start, end), coef);
      adam.update(grads);
      if (nulls) removeDirections(head.weight, nulls);
      lossSum += batchLoss * coef * (end - start);
    }
    step.valLogits(valLogits);
    const { loss: valLoss, accuracy } = validationLoss(valLogits, yVal, cw);
    const improved = valLoss < bestValLoss;
    if (improved) {
      bestValLoss = valLoss;
      bestEpoch = epoch;
      best.weight.set(head.weight);
      best.bias.set(head.bias);
    }
    const record: EpochRecord = { epoch, trainLoss: lossSum / n, valLoss, valAccuracy: accuracy, improved };
    history.push(record);
    o.onEpoch?.(record, o.epochs);
  }
  return { head: best, bestEpoch, bestValLoss, history, lastHead: cloneHead(head) };
}

/** Class-weighted mean nll of eval-mode logits (out[2i], out[2i+1]) and the fraction classified right. */
function validationLoss(logits: Float64Array, labels: Uint8Array, cw: ArrayLike<number>): { loss: number; accuracy: number } {
  let sum = 0;
  let weights = 0;
  let correct = 0;
  for (let s = 0; s < labels.length; s++) {
    const l0 = logits[2 * s];
    const l1 = logits[2 * s + 1];
    const t = labels[s];
    const m = l0 > l1 ? l0 : l1;
    const lse = m + Math.log(Math.exp(l0 - m) + Math.exp(l1 - m));
    sum += cw[t] * (lse - (t === 1 ? l1 : l0));
    weights += cw[t];
    if ((l1 > l0 ? 1 : 0) === t) correct++;
  }
  return { loss: sum / weights, accuracy: correct / labels.length };
}

function checkOptions(o: TrainOptions): void {
  const posInt = (v: number, name: string): void => {
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`training option ${name} = ${v} must be a positive integer`);
  };
  posInt(o.epochs, 'epochs');
  posInt(o.batchSize, 'batchSize');
  if (!(o.lr > 0)) throw new UsageError(`training option lr = ${o.lr} must be > 0`);
  if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1)) {
    throw new UsageError(`training options beta1 = ${o.beta1}, beta2 = ${o.beta2} must be in [0, 1)`);
  }
  if (!(o.eps >= 0) || !(o.weightDecay >= 0)) throw new UsageError('training options eps and weightDecay must be >= 0');
  const cw = o.classWeights;
  if (cw && (cw.length !== 2 || !cw.every((w) => w > 0 && Number.isFinite(w)))) {
    throw new UsageError(`training option classWeights must be two positive numbers [non-COVID, COVID], got ${JSON.stringify(cw)}`);
  }
}

function checkSameShape(head: Head, spec: HeadSpec): void {
  const same =
    head.kind === spec.kind &&
    head.inChannels === spec.inChannels &&
    String(head.spatial ?? '') === String(spec.kind === 'squeezenet-conv' ? (spec.spatial ?? '') : (head.spatial ?? ''));
  if (!same) throw new UsageError('training option initialHead does not have the shape of the head spec (kind, inChannels, spatial)');
}

function checkLabels(labels: ArrayLike<number>, n: number, what: string): Uint8Array {
  if (labels.length !== n) {
    throw new DatasetError(`${what} labels: ${labels.length} labels for ${n} feature samples; re-extract the features`);
  }
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new DatasetError(`${what} labels: label ${String(y)} at sample ${i} is not 0 (non-COVID) or 1 (COVID)`);
    out[i] = y;
  }
  return out;
}
