import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validationSplit } from '../src/protocol/validation-split.js';
import type { DatasetItem } from '../src/dataset/read.js';

function items(nCovid: number, nNon: number, perPatient: number, withPatients = true): DatasetItem[] {
  const out: DatasetItem[] = [];
  for (const [label, n] of [[1, nCovid], [0, nNon]] as const) {
    for (let i = 0; i < n; i++) {
      const rel = `train/${label ? 'covid' : 'non'}/${i}.png`;
      out.push({ file: `/x/${rel}`, rel, split: 'train', label, className: label ? 'covid' : 'non', patient: withPatients ? `${label}-${Math.floor(i / perPatient)}` : undefined });
    }
  }
  return out;
}

test('validation is patient-disjoint, stratified and about the asked fraction', () => {
  const all = items(140, 390, 3);
  const s = validationSplit(all, 0.1, 0);
  assert.equal(s.by, 'patient');
  assert.equal(s.train.length + s.val.length, all.length);
  const trainPatients = new Set(s.train.map((i) => i.patient));
  for (const v of s.val) assert.ok(!trainPatients.has(v.patient), `patient ${v.patient} on both sides`);
  const valCovid = s.val.filter((i) => i.label === 1).length;
  const valNon = s.val.length - valCovid;
  // whole patients of 3 images: each class within one patient of 10%
  assert.ok(Math.abs(valCovid - 14) <= 3, `COVID in validation: ${valCovid}`);
  assert.ok(Math.abs(valNon - 39) <= 3, `non-COVID in validation: ${valNon}`);
});

test('the split is deterministic for a seed and changes with it', () => {
  const all = items(50, 100, 2);
  const a = validationSplit(all, 0.2, 7).val.map((i) => i.rel);
  const b = validationSplit(all, 0.2, 7).val.map((i) => i.rel);
  const c = validationSplit(all, 0.2, 8).val.map((i) => i.rel);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('without patient ids the split is by image and says so', () => {
  const s = validationSplit(items(20, 40, 1, false), 0.25, 0);
  assert.equal(s.by, 'image');
  assert.equal(s.val.filter((i) => i.label === 1).length, 5);
  assert.equal(s.val.filter((i) => i.label === 0).length, 10);
});
