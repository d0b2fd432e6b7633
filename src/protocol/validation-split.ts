import { Rng } from '../util/rng.js';
import type { DatasetItem } from '../dataset/read.js';

/** Training items split into the part that trains and the part that validates. */
export interface ValidationSplit {
  train: DatasetItem[];
  val: DatasetItem[];
  /** 'patient' when whole patients were held out; 'image' when the data has no patient ids. */
  by: 'patient' | 'image';
}

/**
 * Holds out about `fraction` of the training data for validation, by patient when every item
 * has a patient id (all images of a patient on one side), else by image. Stratified by class:
 * each class's patients are shuffled with the seed and taken until the class's share is met.
 * A patient with images of both classes goes by the class of its first image.
 */
export function validationSplit(items: DatasetItem[], fraction: number, seed: number): ValidationSplit {
  const byPatient = items.length > 0 && items.every((i) => !!i.patient);
  const groups = new Map<string, DatasetItem[]>();
  for (const it of items) {
    // augmented copies stay with their original
    const key = byPatient ? it.patient! : (it.derivedFrom ?? it.rel);
    const g = groups.get(key);
    if (g) g.push(it);
    else groups.set(key, [it]);
  }
  const rng = new Rng(seed);
  const valKeys = new Set<string>();
  for (const label of [1, 0] as const) {
    const keys = [...groups.keys()].filter((k) => groups.get(k)![0].label === label).sort();
    rng.shuffle(keys);
    const total = keys.reduce((s, k) => s + groups.get(k)!.length, 0);
    const want = Math.round(total * fraction);
    let taken = 0;
    for (const k of keys) {
      if (taken >= want) break;
      valKeys.add(k);
      taken += groups.get(k)!.length;
    }
  }
  const train: DatasetItem[] = [];
  const val: DatasetItem[] = [];
  for (const [k, g] of groups) (valKeys.has(k) ? val : train).push(...g);
  const order = (a: DatasetItem, b: DatasetItem) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0);
  return { train: train.sort(order), val: val.sort(order), by: byPatient ? 'patient' : 'image' };
}
