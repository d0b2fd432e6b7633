import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apportion, assignSplits, parseSplitSpec, PAPER_SPLIT, resolveTargets, type SplitItem } from '../src/dataset/split.js';
import { Rng } from '../src/util/rng.js';

/** Items in groups of 1–4 images, two sources per class. */
function makeItems(seed: number, groups: number): SplitItem[] {
  const rng = new Rng(seed);
  const items: SplitItem[] = [];
  for (let g = 0; g < groups; g++) {
    const label = rng.next() < 0.3 ? 'covid' : 'non';
    const source = `${label}-src${rng.int(2)}`;
    const size = rng.next() < 0.6 ? 1 : 2 + rng.int(3);
    for (let k = 0; k < size; k++) items.push({ label, source, group: g });
  }
  return items;
}

describe('dataset: splits', () => {
  it('apportion keeps the total and the proportions', () => {
    assert.deepEqual(apportion(10, [1, 1, 1]), [4, 3, 3]);
    assert.deepEqual(apportion(7, [84, 100]), [3, 4]);
    assert.equal(apportion(1234, [0.7, 0.2, 0.1]).reduce((a, b) => a + b), 1234);
  });

  it('the paper preset scales down to what exists, and keeps its counts when there is more', () => {
    const small = resolveTargets(PAPER_SPLIT, { covid: 142, non: 10000 });
    assert.deepEqual(small.targets.train, { covid: 65, non: 2000 }); // 142 * 84/184 = 64.8
    assert.deepEqual(small.targets.test, { covid: 77, non: 3000 });
    assert.deepEqual(small.useAll, { covid: true, non: false });
    assert.equal(parseSplitSpec('paper'), PAPER_SPLIT);
    assert.throws(() => parseSplitSpec({ foo: 1 }), /split must be/);
  });

  it('never splits a group, meets counts exactly when they can be met, and is seeded', () => {
    const items = makeItems(1, 300);
    const spec = { counts: { train: { covid: 40, non: 100 }, test: { covid: 30, non: 80 } } };
    const a = assignSplits(items, spec, 7);
    const b = assignSplits(items, spec, 7);
    const c = assignSplits(items, spec, 8);
    assert.deepEqual(a.split, b.split);
    assert.notDeepEqual(a.split, c.split);
    const where = new Map<number, string | null>();
    items.forEach((it, i) => {
      if (where.has(it.group)) assert.equal(a.split[i], where.get(it.group), `group ${it.group} split`);
      where.set(it.group, a.split[i]);
    });
    const count = (s: string, l: string) => items.filter((it, i) => a.split[i] === s && it.label === l).length;
    assert.deepEqual([count('train', 'covid'), count('train', 'non'), count('test', 'covid'), count('test', 'non')], [40, 100, 30, 80]);
  });

  it('fractions use every image and stratify by source', () => {
    const items = makeItems(2, 400);
    const { split } = assignSplits(items, { fractions: { train: 0.75, test: 0.25 } }, 0);
    assert.ok(split.every((s) => s !== null));
    for (const src of ['covid-src0', 'covid-src1', 'non-src0', 'non-src1']) {
      const of = items.map((it, i) => ({ it, s: split[i] })).filter((x) => x.it.source === src);
      const frac = of.filter((x) => x.s === 'train').length / of.length;
      assert.ok(Math.abs(frac - 0.75) < 0.08, `${src}: train fraction ${frac.toFixed(3)}`);
    }
  });
});
