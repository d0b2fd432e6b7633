import { Rng } from '../util/rng.js';

/**
 * Assigns rows to `k` folds with every group (a patient, or an image with its augmented copies) in
 * one fold, so an out-of-fold score never comes from a density that saw another film of the same
 * patient. Groups are shuffled with the seed, then each goes to the fold with the fewest rows so
 * far (ties: the lowest fold), which keeps the folds' sizes within one group of each other.
 * @returns the fold (0..k-1) of each row.
 * @throws Error when there are fewer groups than folds.
 */
export function groupedFolds(groups: readonly string[], k: number, seed: number): Int32Array {
  if (!Number.isInteger(k) || k < 2) throw new Error(`the number of folds must be an integer of at least 2, got ${k}`);
  const members = new Map<string, number[]>();
  groups.forEach((g, i) => {
    const m = members.get(g);
    if (m) m.push(i);
    else members.set(g, [i]);
  });
  if (members.size < k) throw new Error(`${k} folds need at least ${k} patients or images, got ${members.size}`);
  const keys = [...members.keys()].sort();
  new Rng(seed).shuffle(keys);
  const size = new Array<number>(k).fill(0);
  const fold = new Int32Array(groups.length);
  for (const key of keys) {
    let f = 0;
    for (let j = 1; j < k; j++) if (size[j] < size[f]) f = j;
    for (const i of members.get(key)!) fold[i] = f;
    size[f] += members.get(key)!.length;
  }
  return fold;
}
