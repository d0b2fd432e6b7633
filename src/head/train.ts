import { DatasetError, UsageError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { availableParallelism } from 'node:os';
import { Adam, ADAM_DEFAULTS } from './adam.js';
import { convMaskLayout, MAX_POOL_BATCH } from './conv-batch.js';
import { ConvBatchPool } from './conv-pool.js';
import { fillDropoutMask, maskWords, nonzeroBits } from './dropout.js';
import { cloneHead, createHead } from './init.js';
import { HeadKernel } from './kernels.js';
import { computeLogits, sampleCount } from './predict.js';
import { checkHeadSpec } from './spec-check.js';
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
  /** Start from these weights instead of a fresh PyTorch-default initialisation (copied, not modified). */
  initialHead?: Head;
  /**
   * Threads computing a squeezenet-conv batch (the calling thread counts as one; the others are
   * worker threads). Default: min(2, available cores) when a batch holds at least 2^20 feature
   * values (SqueezeNet's 512x13x13 maps at batch 20), else 1. Results do not depend on it. Pooled
   * (linear) heads always train on the calling thread.
   */
  threads?: number;
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
  /** Threads that computed the batches (1 = the calling thread only). */
  threads: number;
  /** Samples (over all epochs) whose forward/backward a worker thread computed; diagnostics. */
  workerSlots: number;
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

  const n = sampleCount(head, train.features, 'training features');
  const nVal = sampleCount(head, val.features, 'validation features');
  const yTrain = checkLabels(train.labels, n, 'training');
  const yVal = checkLabels(val.labels, nVal, 'validation');
  if (n === 0) throw new DatasetError('training features: the training set is empty; add images to the training split');
  if (nVal === 0) throw new DatasetError('validation features: the validation set is empty; add images to the validation split');
  const cw = o.classWeights ?? [1, 1];

  const kernel = new HeadKernel(head);
  const valKernel = new HeadKernel(head);
  const adam = new Adam([head.weight, head.bias], { lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay });
  const grads = [kernel.gradWeight, kernel.gradBias];
  const p = head.dropout;
  const conv = head.kind === 'squeezenet-conv';
  // pooled heads: masks of a batch drawn in sample order from one stream on this thread
  const maskLen = maskWords(kernel.layout);
  const batchMasks = !conv && p > 0 ? new Uint32Array(o.batchSize * maskLen) : null;
  // conv head: batches go through the slot pool (one dropout seed per sample); zero features are
  // skipped through per-sample nonzero bitmaps, which also serve as the eval-mode masks
  const convLayout = conv ? convMaskLayout(head) : null;
  const valNonzero = convLayout ? nonzeroBits(val.features, nVal, convLayout) : null;
  const pool = convLayout
    ? new ConvBatchPool(head, train.features, yTrain, cw, o.batchSize, convThreads(o, n, kernel.sampleSize))
    : null;
  const batchSamples = new Int32Array(o.batchSize);
  const batchSeeds = new Uint32Array(o.batchSize);
  const order = new Int32Array(n);
  const valLogits = new Float64Array(2 * nVal);
  const best = cloneHead(head);
  let bestEpoch = 0;
  let bestValLoss = Infinity;
  const history: EpochRecord[] = [];
  let threads = 1;
  let workerSlots = 0;

  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      for (let i = 0; i < n; i++) order[i] = i;
      shuffleRng.shuffle(order);
      let lossSum = 0;
      for (let start = 0; start < n; start += o.batchSize) {
        const end = Math.min(n, start + o.batchSize);
        let wsum = 0;
        for (let i = start; i < end; i++) wsum += cw[yTrain[order[i]]];
        const coef = 1 / wsum;
        let batchLoss = 0;
        if (pool !== null) {
          const len = end - start;
          for (let i = 0; i < len; i++) {
            batchSamples[i] = order[start + i];
            batchSeeds[i] = dropRng.nextUint32();
          }
          batchLoss = pool.runBatch(head, batchSamples.subarray(0, len), batchSeeds.subarray(0, len), coef, kernel.gradWeight, kernel.gradBias);
        } else {
          kernel.zeroGrad();
          const len = end - start;
          if (batchMasks !== null) {
            for (let i = 0; i < len; i++) fillDropoutMask(batchMasks.subarray(i * maskLen, (i + 1) * maskLen), kernel.layout, p, dropRng);
          }
          batchLoss = kernel.accumulateLinearBatch(train.features, order.subarray(start, end), len, yTrain, cw, coef, batchMasks, 1 / (1 - p));
        }
        adam.update(grads);
        lossSum += batchLoss * coef * (end - start);
      }

      if (valNonzero !== null) {
        const words = valNonzero.length / nVal;
        for (let s = 0; s < nVal; s++) {
          valKernel.forward(val.features, s, { bits: valNonzero.subarray(s * words, (s + 1) * words), scale: 1 });
          valLogits[2 * s] = valKernel.logits[0];
          valLogits[2 * s + 1] = valKernel.logits[1];
        }
      } else computeLogits(head, val.features, valLogits, valKernel);
      let vLoss = 0;
      let vW = 0;
      let correct = 0;
      for (let s = 0; s < nVal; s++) {
        const l0 = valLogits[2 * s];
        const l1 = valLogits[2 * s + 1];
        const t = yVal[s];
        const m = l0 > l1 ? l0 : l1;
        const lse = m + Math.log(Math.exp(l0 - m) + Math.exp(l1 - m));
        vLoss += cw[t] * (lse - (t === 1 ? l1 : l0));
        vW += cw[t];
        if ((l1 > l0 ? 1 : 0) === t) correct++;
      }
      const valLoss = vLoss / vW;
      const improved = valLoss < bestValLoss;
      if (improved) {
        bestValLoss = valLoss;
        bestEpoch = epoch;
        best.weight.set(head.weight);
        best.bias.set(head.bias);
      }
      const record: EpochRecord = { epoch, trainLoss: lossSum / n, valLoss, valAccuracy: correct / nVal, improved };
      history.push(record);
      o.onEpoch?.(record, o.epochs);
    }
    if (pool !== null) {
      threads = pool.threads;
      workerSlots = pool.workerSlots;
    }
  } finally {
    pool?.close();
  }
  return { head: best, bestEpoch, bestValLoss, history, lastHead: cloneHead(head), threads, workerSlots };
}

/** Threads for the conv pool: the option (at most one per batch sample), or the default rule. */
function convThreads(o: TrainOptions, n: number, sampleSize: number): number {
  const cap = Math.min(o.batchSize, n);
  if (o.threads !== undefined) return Math.min(o.threads, cap);
  return sampleSize * cap >= 1 << 20 ? Math.min(2, availableParallelism(), cap) : 1;
}

function checkOptions(o: TrainOptions): void {
  const posInt = (v: number, name: string): void => {
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`training option ${name} = ${v} must be a positive integer`);
  };
  posInt(o.epochs, 'epochs');
  posInt(o.batchSize, 'batchSize');
  if (o.batchSize > MAX_POOL_BATCH) throw new UsageError(`training option batchSize = ${o.batchSize} must be at most ${MAX_POOL_BATCH}`);
  if (o.threads !== undefined) posInt(o.threads, 'threads');
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
