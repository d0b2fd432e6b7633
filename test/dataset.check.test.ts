import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { main } from '../src/cli/main.js';
import type { CheckReport } from '../src/dataset/check.js';
import { formatCsv, parseCsv } from '../src/util/csv.js';

const DEV = fileURLToPath(new URL('../../shared/data/covidx5k-dev/', import.meta.url));

async function run(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await main(['node', 'deep-covid', ...args], { out: (s) => (out += `${s}\n`), err: (s) => (out += `${s}\n`) });
  process.exitCode = undefined; // main reports through process.exitCode; do not let it leak into the test runner
  return { code, out };
}

describe('dataset check on covidx5k-dev', () => {
  let res: { code: number; out: string };
  let report: CheckReport;
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'dc-check-'));
    res = await run(['dataset', 'check', DEV, '--quiet', '--json', join(tmp, 'report.json')]);
    report = JSON.parse(await readFile(join(tmp, 'report.json'), 'utf8')) as CheckReport;
  });
  after(async () => rm(tmp, { recursive: true, force: true }));

  it('passes (exit 0) and prints the counts table', () => {
    assert.equal(res.code, 0, res.out);
    // counts from the dev set's README
    assert.match(res.out, /test\s+covid\s+114\s+81/);
    assert.match(res.out, /test\s+non\s+278\s+166/);
    assert.match(res.out, /train\s+covid\s+142\s+90/);
    assert.match(res.out, /train\s+non\s+387\s+277/);
    assert.match(res.out, /no leakage/);
  });

  it('reports sources, views, sizes and the known hazards', () => {
    assert.equal(report.images, 921);
    assert.equal(report.leakage, false);
    assert.deepEqual(report.patientOverlap, []);
    assert.deepEqual(report.crossSplitDuplicates, []);
    assert.deepEqual(report.unreadable, []);
    assert.deepEqual(report.bitDepths, { 8: 921 });
    assert.equal(report.sizes!.shorterSide.min, 256);
    assert.equal(report.sizes!.shorterSide.max, 256);
    const nih = report.bySource.filter((s) => s.source === 'muhammedtalo/COVID-19').reduce((a, s) => a + s.images, 0);
    assert.equal(nih, 588);
    const pa = report.byView.filter((v) => v.class === 'covid' && v.view === 'PA');
    assert.deepEqual(pa.map((v) => [v.split, v.images]), [['test', 61], ['train', 44]]);
    assert.ok(report.warnings.some((w) => /source shortcut: 88% of non/.test(w)), report.warnings.join('\n'));
    assert.ok(report.warnings.some((w) => /age gap/.test(w)));
  });
});

describe('dataset check on a leaky copy', () => {
  let dir: string;
  let res: { code: number; out: string };
  let report: CheckReport;
  let moved: Record<string, string>;
  let exactCopy: string;
  let nearCopy: string;
  let srcExact: string;
  let srcNear: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dc-leak-'));
    const rows = parseCsv(await readFile(join(DEV, 'manifest.csv'), 'utf8'));
    // a small subset: 6 images from each split/class, including a patient with several train images
    const counts = new Map<string, number>();
    const byPatient = new Map<string, number>();
    for (const r of rows) byPatient.set(r.patient_id, (byPatient.get(r.patient_id) ?? 0) + 1);
    const multi = rows.find((r) => r.split === 'train' && r.label === 'non' && byPatient.get(r.patient_id)! >= 2 && rows.filter((x) => x.patient_id === r.patient_id).every((x) => x.split === 'train'))!;
    const subset = rows.filter((r) => r.patient_id === multi.patient_id || ((counts.get(`${r.split}/${r.label}`) ?? 0) < 6 && counts.set(`${r.split}/${r.label}`, (counts.get(`${r.split}/${r.label}`) ?? 0) + 1)));
    for (const r of subset) {
      await mkdir(dirname(join(dir, r.file)), { recursive: true });
      await copyFile(join(DEV, r.file), join(dir, r.file)); // copies: links out of the dataset folder are refused
    }
    // leak 1: one image of the multi-image patient moved to test
    const leaking = subset.find((r) => r.patient_id === multi.patient_id)!;
    const newFile = leaking.file.replace(/^train\//, 'test/');
    await mkdir(dirname(join(dir, newFile)), { recursive: true });
    await rm(join(dir, leaking.file));
    await copyFile(join(DEV, leaking.file), join(dir, newFile));
    moved = { patient: leaking.patient_id, file: newFile };
    leaking.file = newFile;
    leaking.split = 'test';
    // leak 2: an exact copy of a train/covid image filed under test/covid as another patient
    const train = subset.filter((r) => r.split === 'train' && r.label === 'covid');
    srcExact = train[0].file;
    exactCopy = 'test/covid/planted-exact.png';
    await copyFile(join(DEV, srcExact), join(dir, exactCopy));
    subset.push({ ...train[0], split: 'test', file: exactCopy, patient_id: 'planted:1' });
    // leak 3: a JPEG re-encode, resized by 95 %, converted back to PNG, as another patient in test
    srcNear = train[1].file;
    nearCopy = 'test/covid/planted-near.png';
    const m = await sharp(join(DEV, srcNear)).metadata();
    const jpeg = await sharp(join(DEV, srcNear)).resize(Math.round(m.width! * 0.95)).jpeg({ quality: 80 }).toBuffer();
    await writeFile(join(dir, nearCopy), await sharp(jpeg).greyscale().png().toBuffer());
    subset.push({ ...train[1], split: 'test', file: nearCopy, patient_id: 'planted:2' });
    // an unreadable file and a child among adults
    await writeFile(join(dir, 'test/non/broken.png'), Buffer.from('\x89PNG\r\n\x1a\nnot really'));
    subset.push({ ...subset[0], split: 'test', label: 'non', file: 'test/non/broken.png', patient_id: 'planted:3' });
    subset[1].age = '9';
    await writeFile(join(dir, 'manifest.csv'), formatCsv(subset, Object.keys(rows[0])));
    res = await run(['dataset', 'check', dir, '--quiet', '--json', join(dir, 'report.json')]);
    report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as CheckReport;
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('exits 1 naming the leaking patient', () => {
    assert.equal(res.code, 1, res.out);
    assert.match(res.out, /LEAKAGE/);
    assert.ok(res.out.includes(`patient ${moved.patient} is in test and train`), res.out);
    assert.ok(res.out.includes(moved.file));
    assert.deepEqual(report.patientOverlap.map((p) => p.patient), [moved.patient]);
  });

  it('names the planted exact and near-duplicate pairs', () => {
    const pairs = report.crossSplitDuplicates.map((p) => `${[p.a, p.b].sort().join(' ~ ')} ${p.kind}`).sort();
    assert.deepEqual(pairs, [`${[srcExact, exactCopy].sort().join(' ~ ')} file`, `${[srcNear, nearCopy].sort().join(' ~ ')} near`].sort());
    assert.ok(res.out.includes(exactCopy) && res.out.includes(srcExact) && res.out.includes(nearCopy) && res.out.includes(srcNear));
    assert.equal(report.leakage, true);
  });

  it('lists unreadable files and warns about children among adults', () => {
    assert.deepEqual(report.unreadable.map((u) => u.file), ['test/non/broken.png']);
    assert.match(res.out, /unreadable: .*broken\.png/);
    assert.ok(report.warnings.some((w) => /paediatric images mixed with adults: 1 of/.test(w)), report.warnings.join('\n'));
  });
});
