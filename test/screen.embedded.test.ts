import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { screen } from '../src/screen/index.js';
import { predictFiles } from '../src/tasks/predict.js';
import { RunError, UsageError } from '../src/errors.js';
import { main } from '../src/cli/main.js';
import type { ProgressEvent } from '../src/util/progress.js';
import { BAD_INPUTS, skipNoShared } from './helpers/shared.js';
import { copyInto, devImages, readRows, trainTinyRun } from './helpers/screen-fixtures.js';

let work: string;
let run: string;
let archive: string;
/** name in results → P(COVID) from predict (the reference), or null for a file predict rejects */
const expected = new Map<string, number | 'refused' | null>();
const BAD = ['reject-empty.png', 'reject-truncated.png', 'reject-text-not-image.png'];

before(async () => {
  if (skipNoShared) return;
  work = await mkdtemp(join(tmpdir(), 'dc-screen-'));
  run = await trainTinyRun(join(work, 'run'));
  // an archive: dev images in nested folders, bad files, a copy under another name, a non-image file
  archive = join(work, 'archive');
  const dev = await devImages(24);
  const files = [
    ...(await copyInto(dev.slice(0, 12), archive, 'a')),
    ...(await copyInto(dev.slice(12), archive, 'b/c')),
    ...(await copyInto(BAD.map((f) => join(BAD_INPUTS, f)), archive, 'bad')),
  ];
  // sorted last, in a batch taken after the first batch is written (batches of 10, 2 in flight)
  await mkdir(join(archive, 'z'));
  await copyFile(files[0], join(archive, 'z', 'copy-of-first.png'));
  files.push(join(archive, 'z', 'copy-of-first.png'));
  await writeFile(join(archive, 'README.md'), 'not an image\n');
  const preds = await predictFiles({ run, files, cache: null });
  preds.forEach((p, i) => expected.set(relative(archive, files[i]), 'probability' in p ? p.probability : 'refused' in p ? 'refused' : null));
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

test('screen writes one row per input with predict\'s probabilities; bad files are error rows with their kind', { skip: skipNoShared }, async () => {
  const out = join(work, 'results.csv');
  const progress: ProgressEvent[] = [];
  const res = await screen({ run, input: archive, out, batchSize: 10, onProgress: (e) => progress.push(e) });
  const rows = await readRows(out);
  assert.equal(rows.length, expected.size);
  assert.deepEqual(rows.map((r) => r.file).sort(), [...expected.keys()].sort(), 'exactly one row per input; README.md is not an input');
  for (const r of rows) {
    const want = expected.get(String(r.file));
    if (want === 'refused') {
      assert.equal(r.decision, 'refused');
      assert.equal(r.probability, '');
      assert.match(String(r.gate), /^refused: /);
    } else if (want === null) {
      assert.equal(r.decision, 'error');
      assert.equal(r.probability, '');
      assert.ok(String(r.error).includes(String(r.file).split('/').pop()!), `the error names the file: ${r.error}`);
    } else {
      assert.equal(Number(r.probability), want, `${r.file}: same probability as predict`);
      assert.equal(r.decision, (want as number) >= Number(r.threshold) ? 'covid' : 'non');
    }
    if (r.decision === 'error') assert.equal(r.gate, 'not assessed');
    else if (r.decision !== 'refused') assert.match(String(r.gate), /^(passed|warned)/);
    assert.equal(r.model, res.modelId);
    assert.match(String(r.sha256), String(r.file).endsWith('reject-empty.png') ? /^e3b0c442/ : /^[0-9a-f]{64}$/);
  }
  const kinds = Object.fromEntries(rows.filter((r) => r.decision === 'error').map((r) => [String(r.file).split('/').pop(), r.error_kind]));
  assert.deepEqual(kinds, { 'reject-empty.png': 'empty', 'reject-truncated.png': 'truncated', 'reject-text-not-image.png': 'not-an-image' });
  // summary agrees with the rows
  assert.equal(res.written, expected.size);
  assert.equal(res.skipped, 0);
  assert.equal(res.reused, 1, 'the copy under another name is not predicted again');
  assert.equal(res.ignored, 1);
  assert.equal(res.byDecision.error, 3);
  assert.equal(res.byDecision.covid + res.byDecision.non + res.byDecision.refused, expected.size - 3);
  assert.equal(res.byDecision.refused, [...expected.values()].filter((v) => v === 'refused').length, 'refusals by the input gate are counted as such');
  assert.deepEqual(res.byErrorKind, { empty: 1, truncated: 1, 'not-an-image': 1 });
  assert.deepEqual([progress[0].phase, progress.at(-1)!.phase], ['start', 'end']);
  assert.equal(progress.at(-1)!.done, expected.size, 'progress reaches every input');
  assert.equal(progress.at(-1)!.total, expected.size);
  assert.equal(progress.at(-1)!.fromCache, 1, 'the copied row counts as not computed');
  assert.ok(progress.every((e, i) => i === 0 || e.done >= progress[i - 1].done), 'progress never goes back');
});

test('rerunning skips what is done; a torn last line from a crash is dropped and its rows written once', { skip: skipNoShared }, async () => {
  const out = join(work, 'results.csv');
  const before = await readFile(out, 'utf8');
  const again = await screen({ run, input: archive, out });
  assert.equal(again.written, 0);
  assert.equal(again.skipped, expected.size);
  assert.equal(await readFile(out, 'utf8'), before, 'nothing appended');
  // a crash in the middle of appending: the last two rows lost, a third half written
  const lines = before.split('\n').filter(Boolean);
  const kept = lines.slice(0, -3).join('\n') + '\n';
  const torn = lines.at(-3)!.slice(0, 40);
  await writeFile(out, kept + torn);
  const resumed = await screen({ run, input: archive, out });
  assert.equal(resumed.droppedTornLine, true);
  assert.equal(resumed.written, 3);
  const rows = await readRows(out);
  assert.equal(rows.length, expected.size);
  assert.equal(new Set(rows.map((r) => r.file)).size, expected.size, 'no row twice');
  for (const r of rows) {
    const want = expected.get(String(r.file));
    if (typeof want === 'number') assert.equal(Number(r.probability), want);
    else if (want === 'refused') assert.equal(r.decision, 'refused');
  }
  assert.deepEqual(resumed.byDecision, again.byDecision, 'the summary counts every input, done before or now');
});

test('a list (manifest CSV or one path per line) as the source, JSON lines as the output', { skip: skipNoShared }, async () => {
  const names = [...expected.keys()].filter((n) => n.startsWith('a/')).slice(0, 5);
  await writeFile(join(archive, 'list.csv'), `label,file\n${names.map((n) => `x,${n}`).join('\n')}\n`);
  await writeFile(join(archive, 'list.txt'), `# five images\n${names.map((n) => join(archive, n)).join('\n')}\n\n`);
  const fromCsv = join(work, 'from-csv.jsonl');
  await screen({ run, input: join(archive, 'list.csv'), out: fromCsv });
  const rows = await readRows(fromCsv);
  assert.deepEqual(rows.map((r) => r.file), names, 'named as the manifest names them');
  for (const r of rows) {
    const want = expected.get(String(r.file));
    assert.equal(r.probability, want === 'refused' ? null : want, 'JSON keeps the exact number');
    assert.equal(r.error_kind, '');
  }
  const fromTxt = join(work, 'from-txt.ndjson');
  await screen({ run, input: join(archive, 'list.txt'), out: fromTxt });
  const txtRows = await readRows(fromTxt);
  assert.deepEqual(txtRows.map((r) => r.probability), rows.map((r) => r.probability));
  assert.deepEqual(txtRows.map((r) => r.file), names.map((n) => join(archive, n)), 'absolute paths stay as listed');
});

test('a results file of another model is refused; an unknown results extension is a usage error; a changed file gets a new row', { skip: skipNoShared }, async () => {
  const other = join(work, 'other.csv');
  const text = await readFile(join(work, 'results.csv'), 'utf8');
  await writeFile(other, text.replace(/,[0-9a-f]{64}\n/g, `,${'f'.repeat(64)}\n`));
  await assert.rejects(screen({ run, input: archive, out: other }), (err: unknown) => err instanceof RunError && /another model/.test(err.message));
  await assert.rejects(screen({ run, input: archive, out: join(work, 'results.txt') }), UsageError);
  assert.equal(await stat(join(work, 'results.txt')).catch(() => null), null, 'nothing created');
  // an input whose content changed since it was screened is a new input
  const changing = join(work, 'changing');
  await mkdir(changing);
  const [a, b] = await devImages(2);
  await copyFile(a, join(changing, 'x.png'));
  const out = join(work, 'changing.csv');
  await screen({ run, input: changing, out });
  await copyFile(b, join(changing, 'x.png'));
  const res = await screen({ run, input: changing, out });
  assert.equal(res.written, 1);
  const rows = await readRows(out);
  assert.equal(rows.length, 2);
  assert.notEqual(rows[0].sha256, rows[1].sha256);
  await truncate(out, 0);
});

test('CLI: screen prints a summary with counts and the research-use notice; exit 1 when nothing could be predicted', { skip: skipNoShared }, async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
  const results = join(work, 'cli.csv');
  const code = await main(['node', 'deep-covid', 'screen', '--run', run, '--input', join(archive, 'a'), '--out', results, '-q'], io);
  assert.equal(code, 0, err.join('\n'));
  const text = out.join('\n');
  assert.match(text, /screened: 12 inputs .* 12 new rows/);
  assert.match(text, /decisions: covid \d+, non \d+, error 0/);
  assert.match(text, /not a diagnostic device/);
  assert.equal((await readRows(results)).length, 12);
  const badOut: string[] = [];
  const code2 = await main(['node', 'deep-covid', 'screen', '--run', run, '--input', join(archive, 'bad'), '--out', join(work, 'bad.csv'), '-q'], { out: (s) => badOut.push(s), err: () => undefined });
  assert.equal(code2, 1);
  assert.match(badOut.join('\n'), /error 3 \(/);
});
