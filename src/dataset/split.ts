import { UsageError } from '../errors.js';
import { Rng } from '../util/rng.js';

/** Class names of the paper's layout. */
export type ClassName = 'covid' | 'non';
export const CLASSES: readonly ClassName[] = ['covid', 'non'];

/** How to split: image counts per split and class, or fractions per split (applied to every class). */
export type SplitSpec =
  | { counts: Record<string, Partial<Record<ClassName, number>>> }
  | { fractions: Record<string, number> };

/** The paper's split (Minaee et al. 2020): train 84 COVID / 2,000 non, test 100 COVID / 3,000 non. */
export const PAPER_SPLIT: SplitSpec = { counts: { train: { covid: 84, non: 2000 }, test: { covid: 100, non: 3000 } } };

/** One image to place: its class, its source (for stratification) and its group (patient ∪ duplicates). */
export interface SplitItem {
  label: ClassName;
  source: string;
  group: number;
}

/** Target image counts per split and class once the spec meets the available images. */
export interface SplitTargets {
  splits: string[];
  /** targets[split][class]. */
  targets: Record<string, Record<ClassName, number>>;
  /** Classes whose targets add up to everything available (every group must be placed). */
  useAll: Record<ClassName, boolean>;
}

/** Splits `total` into integer parts proportional to `weights` (largest remainder; sums to total). */
export function apportion(total: number, weights: number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) return weights.map(() => 0);
  const raw = weights.map((w) => (total * w) / sum);
  const out = raw.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = raw.map((r, i) => ({ i, f: r - Math.floor(r) })).sort((a, b) => b.f - a.f || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    out[i]++;
    left--;
  }
  return out;
}

/**
 * Resolves a spec against the available counts per class. Counts larger than what exists are
 * scaled down proportionally ("take what exists"); fractions use every image.
 */
export function resolveTargets(spec: SplitSpec, available: Record<ClassName, number>): SplitTargets {
  const targets: Record<string, Record<ClassName, number>> = {};
  const useAll = { covid: false, non: false };
  if ('fractions' in spec) {
    const splits = Object.keys(spec.fractions);
    const w = splits.map((s) => spec.fractions[s]);
    if (splits.length === 0 || w.some((x) => !(x >= 0)) || w.every((x) => x === 0)) throw new UsageError('split fractions must be non-negative numbers, not all zero');
    for (const s of splits) targets[s] = { covid: 0, non: 0 };
    for (const c of CLASSES) {
      apportion(available[c], w).forEach((v, k) => (targets[splits[k]][c] = v));
      useAll[c] = true;
    }
    return { splits, targets, useAll };
  }
  const splits = Object.keys(spec.counts);
  if (splits.length === 0) throw new UsageError('split counts name no split');
  for (const s of splits) targets[s] = { covid: 0, non: 0 };
  for (const c of CLASSES) {
    const want = splits.map((s) => {
      const v = spec.counts[s][c] ?? 0;
      if (!Number.isInteger(v) || v < 0) throw new UsageError(`split count ${s}.${c}=${String(v)} must be a whole number >= 0`);
      return v;
    });
    const total = want.reduce((a, b) => a + b, 0);
    if (total >= available[c]) {
      apportion(available[c], want).forEach((v, k) => (targets[splits[k]][c] = v));
      useAll[c] = total > 0;
    } else {
      want.forEach((v, k) => (targets[splits[k]][c] = v));
    }
  }
  return { splits, targets, useAll };
}

/**
 * Assigns whole groups to splits: every image of a group (a patient, merged with its duplicates'
 * patients) lands in one split. Groups are taken largest first (seeded order among equals) and go
 * to the split where they fit and whose quota for their (class, source) strata is least filled,
 * so each split gets about the same source mix. Returns the split of every item, or null for
 * items left out because the targets were already met.
 */
export function assignSplits(items: SplitItem[], spec: SplitSpec, seed = 0): { split: (string | null)[]; targets: SplitTargets } {
  const available = { covid: 0, non: 0 };
  const perSource = new Map<string, number>(); // `${class}\0${source}` -> images
  for (const it of items) {
    available[it.label]++;
    const k = `${it.label}\0${it.source}`;
    perSource.set(k, (perSource.get(k) ?? 0) + 1);
  }
  const t = resolveTargets(spec, available);
  const members = new Map<number, number[]>();
  for (let i = 0; i < items.length; i++) {
    const g = members.get(items[i].group);
    if (g) g.push(i);
    else members.set(items[i].group, [i]);
  }
  const groups = [...members.values()];
  new Rng(seed).shuffle(groups);
  groups.sort((a, b) => b.length - a.length); // stable: equal sizes keep the seeded order
  const assigned: Record<string, Record<ClassName, number>> = {};
  const bySource = new Map<string, number>(); // `${split}\0${class}\0${source}` -> images
  for (const s of t.splits) assigned[s] = { covid: 0, non: 0 };
  const split: (string | null)[] = new Array(items.length).fill(null);
  for (const g of groups) {
    const need = { covid: 0, non: 0 };
    for (const i of g) need[items[i].label]++;
    const fits = t.splits.filter((s) => CLASSES.every((c) => need[c] === 0 || assigned[s][c] + need[c] <= t.targets[s][c]));
    let choice: string | null = null;
    if (fits.length > 0) {
      let best = -Infinity;
      for (const s of fits) {
        // how unfilled the split's quota is for this group's strata, relative to the quota
        let score = 0;
        for (const i of g) {
          const c = items[i].label;
          const quota = (t.targets[s][c] * (perSource.get(`${c}\0${items[i].source}`) ?? 0)) / Math.max(1, available[c]);
          const have = bySource.get(`${s}\0${c}\0${items[i].source}`) ?? 0;
          score += (quota - have) / Math.max(quota, 1e-9);
        }
        if (score > best + 1e-12) {
          best = score;
          choice = s;
        }
      }
    } else if (CLASSES.some((c) => need[c] > 0 && t.useAll[c])) {
      // every image must be used and the group fits nowhere exactly: the least filled split takes it
      let best = -Infinity;
      for (const s of t.splits) {
        const deficit = CLASSES.reduce((a, c) => a + (need[c] > 0 ? t.targets[s][c] - assigned[s][c] : 0), 0);
        if (deficit > best) {
          best = deficit;
          choice = s;
        }
      }
    }
    if (choice === null) continue;
    for (const i of g) {
      split[i] = choice;
      assigned[choice][items[i].label]++;
      const k = `${choice}\0${items[i].label}\0${items[i].source}`;
      bySource.set(k, (bySource.get(k) ?? 0) + 1);
    }
  }
  return { split, targets: t };
}

/** Parses a split spec from config JSON: "paper", {preset:"paper"}, {fractions:{…}} or {counts:{…}}. */
export function parseSplitSpec(v: unknown): SplitSpec {
  if (v === undefined || v === 'paper' || (typeof v === 'object' && v !== null && (v as { preset?: string }).preset === 'paper')) return PAPER_SPLIT;
  if (typeof v === 'object' && v !== null) {
    if ('fractions' in v && typeof v.fractions === 'object' && v.fractions !== null) return { fractions: v.fractions as Record<string, number> };
    if ('counts' in v && typeof v.counts === 'object' && v.counts !== null) return { counts: v.counts as Record<string, Partial<Record<ClassName, number>>> };
  }
  throw new UsageError(`split must be "paper", {"fractions": {"train": 0.7, "test": 0.3}} or {"counts": {"train": {"covid": 84, "non": 2000}, …}}, got ${JSON.stringify(v)}`);
}
