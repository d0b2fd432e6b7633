import { UsageError } from '../errors.js';

/** Probabilities as accepted by the evaluate functions (Float64Array, Float32Array or number[]). */
export type Probs = ArrayLike<number>;
/** Binary labels, 1 = COVID positive, 0 = negative (Uint8Array or number[]). */
export type Labels = ArrayLike<number>;

/**
 * Checks that probs and labels have the same length, probs are finite and labels are 0/1.
 * `what` names the caller so the message says which computation got the bad input.
 */
export function checkPredictions(probs: Probs, labels: Labels, what: string): void {
  if (probs.length !== labels.length) {
    throw new UsageError(`${what}: ${probs.length} probabilities but ${labels.length} labels; pass one label per prediction`);
  }
  for (let i = 0; i < probs.length; i++) {
    if (!Number.isFinite(probs[i])) {
      throw new UsageError(`${what}: probability #${i} is ${probs[i]}; every prediction must be a finite number`);
    }
    const y = labels[i];
    if (y !== 0 && y !== 1) {
      throw new UsageError(`${what}: label #${i} is ${y}; labels must be 0 (negative) or 1 (COVID positive)`);
    }
  }
}

/** Number of positive labels (label 1). */
export function countPositives(labels: Labels): number {
  let p = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) p++;
  return p;
}

/** Indices 0..n-1 sorted by descending probability (stable: ties keep input order). */
export function indicesByDescendingProb(probs: Probs): Uint32Array {
  const idx = new Uint32Array(probs.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  // TypedArray.prototype.sort is stable (ES2019+)
  return idx.sort((a, b) => probs[b] - probs[a]);
}
