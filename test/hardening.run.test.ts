// Attack tests on the run folder (issue 13, items 2, 6 and 9): replacing only what is a run folder,
// finding an impossible output before any work, and validating run.json on every read.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RunError } from '../src/errors.js';
import { createHead, headToJSON } from '../src/head/index.js';
import { prepareRunOutput, readRunDir, writeRunDir } from '../src/protocol/run-folder.js';
import { trainRun } from '../src/protocol/train-run.js';
import { runRecordFor } from './helpers/run-record.js';

let root: string;
let good: string;
let record: Record<string, unknown>;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'dc-run-hard-'));
  const model = join(root, 'model.onnx');
  await writeFile(model, 'stands in for a model file');
  record = (await runRecordFor(model, 'testnet')) as unknown as Record<string, unknown>;
  good = join(root, 'good');
  await writeRunDir(good, { 'run.json': JSON.stringify(record), 'head.json': JSON.stringify(headToJSON(createHead({ kind: 'linear', inChannels: 4, dropout: 0 }, 1))) }, false);
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A copy of the good run with run.json changed by `edit`. */
async function variant(name: string, edit: (r: Record<string, unknown>) => void): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  const r = structuredClone(record);
  edit(r);
  await writeFile(join(dir, 'run.json'), JSON.stringify(r));
  await writeFile(join(dir, 'head.json'), await readFile(join(good, 'head.json')));
  return dir;
}

const threshold = (v: unknown) => (r: Record<string, unknown>) => {
  (r.threshold as Record<string, unknown>).value = v;
};

describe('run.json is validated on read', () => {
  test('a good run reads', async () => {
    const run = await readRunDir(good);
    assert.equal(run.record.threshold.value, 0.5);
  });

  for (const [name, value] of [['abc', 'abc'], ['null', null], ['negative', -1], ['above-one', 1.5], ['infinite', 'Infinity']] as const) {
    test(`threshold ${JSON.stringify(value)} is an error naming the file and the field`, async () => {
      const dir = await variant(`t-${name}`, threshold(value));
      await assert.rejects(readRunDir(dir), (e: unknown) => e instanceof RunError && e.message.includes(join(dir, 'run.json')) && /threshold\.value/.test(e.message));
    });
  }

  test('a missing threshold is a RunError, not a TypeError', async () => {
    const dir = await variant('t-missing', (r) => delete r.threshold);
    await assert.rejects(readRunDir(dir), (e: unknown) => e instanceof RunError && /threshold/.test(e.message));
  });

  test('version 99 is refused as written by a newer deep-covid', async () => {
    const dir = await variant('v99', (r) => (r.version = 99));
    await assert.rejects(readRunDir(dir), (e: unknown) => e instanceof RunError && /newer deep-covid/.test(e.message));
  });

  test('a bad backbone sha256 and an unknown head kind are named', async () => {
    const sha = await variant('sha', (r) => ((r.backbone as Record<string, unknown>).sha256 = 'xyz'));
    await assert.rejects(readRunDir(sha), /backbone\.sha256/);
    const kind = await variant('kind', (r) => (((r.backbone as { manifest: { head: { kind: string } } }).manifest.head.kind = 'relu-linear')));
    await assert.rejects(readRunDir(kind), /head\.kind/);
  });

  test('a half-written .partial folder is refused as unfinished', async () => {
    const dir = join(root, '.good.partial-0a1b2c3d');
    await mkdir(dir);
    await writeFile(join(dir, 'run.json'), JSON.stringify(record));
    await writeFile(join(dir, 'head.json'), await readFile(join(good, 'head.json')));
    await assert.rejects(readRunDir(dir), (e: unknown) => e instanceof RunError && /unfinished/.test(e.message));
  });

  test('a reproduce folder is answered with the runs inside it', async () => {
    const repro = join(root, 'repro');
    await mkdir(repro);
    await writeFile(join(repro, 'comparison.json'), '{}');
    await writeRunDir(join(repro, 'squeezenet1_1'), { 'run.json': JSON.stringify(record), 'head.json': await readFile(join(good, 'head.json'), 'utf8') }, false);
    await assert.rejects(readRunDir(repro), (e: unknown) => e instanceof RunError && /reproduce folder/.test(e.message) && e.message.includes(join(repro, 'squeezenet1_1')));
  });
});

describe('replacing an output folder', () => {
  test('replace refuses a folder that is not a run folder and leaves it untouched', async () => {
    const precious = join(root, 'precious');
    await mkdir(precious);
    await writeFile(join(precious, 'thesis.tex'), 'years of work');
    await assert.rejects(writeRunDir(precious, { 'run.json': '{}' }, true), (e: unknown) => e instanceof RunError && /not a deep-covid run folder/.test(e.message));
    assert.deepEqual(await readdir(precious), ['thesis.tex']);
  });

  test('replace refuses a file', async () => {
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    await assert.rejects(prepareRunOutput(file, { replace: true }), /not a deep-covid run folder/);
    assert.equal(await readFile(file, 'utf8'), 'x');
  });

  test('replace replaces a run folder and an empty folder', async () => {
    const copy = await variant('to-replace', () => {});
    await writeRunDir(copy, { 'run.json': JSON.stringify(record), 'head.json': await readFile(join(good, 'head.json'), 'utf8'), 'note.txt': 'new' }, true);
    assert.equal(await readFile(join(copy, 'note.txt'), 'utf8'), 'new');
    const empty = join(root, 'empty');
    await mkdir(empty);
    await prepareRunOutput(empty, { replace: true });
  });

  test('train finds an impossible output folder before reading any data (the error is about the output, not the missing dataset)', async () => {
    const blocker = join(root, 'blocker');
    await writeFile(blocker, 'a file where a folder should be');
    await assert.rejects(
      trainRun({ data: join(root, 'no-such-dataset'), out: join(blocker, 'run'), config: { backbone: 'squeezenet1_1' }, cache: null }),
      (e: unknown) => e instanceof RunError && /cannot write the output folder/.test(e.message),
    );
  });
});
