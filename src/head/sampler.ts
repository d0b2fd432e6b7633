/**
 * Group-balanced sampling of training epochs: every group (e.g. each image source, or each
 * source-and-class cell) gets the same number of draws per epoch whatever its size, so a head
 * cannot lower its loss most cheaply by learning which collection an image came from. Small
 * groups are repeated, large ones subsampled; within a group, draws go through a fresh
 * permutation before any member repeats.
 */
import { UsageError } from '../errors.js';
import type { Rng } from '../util/rng.js';

/** Group ids (0..g-1, dense) of the samples from any labels, and the groups' names in id order. */
export function groupIds(names: readonly string[]): { ids: Int32Array; groups: string[] } {
  const index = new Map<string, number>();
  const ids = new Int32Array(names.length);
  names.forEach((n, i) => {
    let id = index.get(n);
    if (id === undefined) index.set(n, (id = index.size));
    ids[i] = id;
  });
  return { ids, groups: [...index.keys()] };
}

/**
 * Fills `order` (length n = samples per epoch) with sample indices drawn so that each group gets
 * n / g draws (the remainder to randomly chosen groups), then shuffles it. `groups[i]` is the
 * group id of sample i.
 */
export function balancedOrder(groups: ArrayLike<number>, rng: Rng, order: Int32Array): void {
  const members: number[][] = [];
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i];
    if (!Number.isInteger(g) || g < 0) throw new UsageError(`sample group ${String(g)} of sample ${i} must be a non-negative integer`);
    (members[g] ??= []).push(i);
  }
  const present = members.filter((m) => m !== undefined && m.length > 0);
  if (present.length === 0) throw new UsageError('balanced sampling needs at least one sample');
  const n = order.length;
  const base = Math.floor(n / present.length);
  const extra = Int32Array.from(present, () => 0);
  const pick = Int32Array.from(present, (_, k) => k);
  rng.shuffle(pick);
  for (let k = 0; k < n - base * present.length; k++) extra[pick[k]] = 1;
  let at = 0;
  present.forEach((m, k) => {
    const perm = Int32Array.from(m);
    for (let d = 0, want = base + extra[k]; d < want; d++) {
      if (d % perm.length === 0) rng.shuffle(perm);
      order[at++] = perm[d % perm.length];
    }
  });
  rng.shuffle(order);
}
