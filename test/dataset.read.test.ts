import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetError } from '../src/errors.js';
import { readDataset, splitOf } from '../src/dataset/read.js';
import { DEV_SET, skipNoShared } from './helpers/shared.js';

let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'dc-dataset-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Creates empty files (the reader only lists names) under `dir`. */
async function touch(dir: string, rels: string[]): Promise<void> {
  for (const rel of rels) {
    await mkdir(join(dir, rel, '..'), { recursive: true });
    await writeFile(join(dir, rel), '');
  }
}

describe('readDataset', () => {
  test('ImageFolder layout train|test/covid|non', async () => {
    const d = join(root, 'imagefolder');
    await touch(d, ['train/covid/a.png', 'train/covid/b.jpg', 'train/non/c.png', 'test/covid/d.png', 'test/non/e.png', 'test/non/f.PNG', 'test/non/notes.txt', 'test/non/.hidden.png']);
    const ds = await readDataset(d);
    assert.equal(ds.origin, 'folders');
    assert.equal(ds.hasPatients, false);
    assert.deepEqual(ds.items.map((i) => `${i.split}:${i.className}:${i.label}:${i.rel}`), [
      'test:covid:1:test/covid/d.png',
      'test:non:0:test/non/e.png',
      'test:non:0:test/non/f.PNG',
      'train:covid:1:train/covid/a.png',
      'train:covid:1:train/covid/b.jpg',
      'train:non:0:train/non/c.png',
    ]);
    assert.equal(ds.items[0].file, join(d, 'test/covid/d.png'));
    assert.equal(splitOf(ds, 'train').length, 3);
    assert.throws(() => splitOf(ds, 'val'), (e: unknown) => e instanceof DatasetError && /has: test, train/.test(e.message));
  });

  test('flat covid|non layout is split "all"', async () => {
    const d = join(root, 'flat');
    await touch(d, ['covid/a.png', 'non/b.png', 'non/c.png']);
    const ds = await readDataset(d);
    assert.deepEqual(ds.items.map((i) => [i.split, i.rel, i.label]), [['all', 'covid/a.png', 1], ['all', 'non/b.png', 0], ['all', 'non/c.png', 0]]);
  });

  test('the positive class is "covid" whatever the folder order, and configurable', async () => {
    // "a_normal" sorts before "covid" and "zz" after it: ImageFolder's index would differ, the label must not
    const d = join(root, 'order');
    await touch(d, ['a_normal/x.png', 'covid/y.png', 'zz/z.png']);
    const ds = await readDataset(d);
    assert.deepEqual(ds.items.map((i) => [i.className, i.label]), [['a_normal', 0], ['covid', 1], ['zz', 0]]);
    const other = await readDataset(d, { positiveClass: 'zz' });
    assert.equal(other.positiveClass, 'zz');
    assert.deepEqual(other.items.map((i) => [i.className, i.label]), [['a_normal', 0], ['covid', 0], ['zz', 1]]);
  });

  test('manifest.csv takes precedence over the folders and fills patient, source and view', async () => {
    const d = join(root, 'manifest');
    await touch(d, ['train/covid/a.png', 'train/non/b.png', 'extra/c.png']);
    await writeFile(join(d, 'manifest.csv'), [
      'split,label,file,source_repo,patient_id,view',
      'train,non,train/covid/a.png,repoA,p1,PA', // the manifest's label wins over the folder name
      'train,covid,train/non/b.png,repoB,p2,"AP Supine"',
      ',covid,extra/c.png,repoC,p3,',
    ].join('\n'));
    const ds = await readDataset(d);
    assert.equal(ds.origin, 'manifest');
    assert.equal(ds.hasPatients, true);
    assert.deepEqual(ds.items.map((i) => ({ rel: i.rel, split: i.split, label: i.label, patient: i.patient, source: i.source, view: i.view })), [
      { rel: 'extra/c.png', split: 'extra', label: 1, patient: 'p3', source: 'repoC', view: undefined },
      { rel: 'train/covid/a.png', split: 'train', label: 0, patient: 'p1', source: 'repoA', view: 'PA' },
      { rel: 'train/non/b.png', split: 'train', label: 1, patient: 'p2', source: 'repoB', view: 'AP Supine' },
    ]);
    // manifest: false ignores it
    const folders = await readDataset(d, { manifest: false });
    assert.equal(folders.origin, 'folders');
    assert.equal(folders.items.find((i) => i.rel === 'train/covid/a.png')!.label, 1);
  });

  test('clear DatasetErrors: missing folder, empty folder, manifest without a label column', async () => {
    const missing = join(root, 'does-not-exist');
    await assert.rejects(readDataset(missing), (e: unknown) => e instanceof DatasetError && e.message.includes(missing) && /does not exist/.test(e.message));
    const empty = join(root, 'empty');
    await mkdir(join(empty, 'train', 'covid'), { recursive: true });
    await assert.rejects(readDataset(empty), (e: unknown) => e instanceof DatasetError && /no images found/.test(e.message) && /train\/covid/.test(e.message));
    const bad = join(root, 'bad-manifest');
    await touch(bad, ['covid/a.png']);
    await writeFile(join(bad, 'manifest.csv'), 'file,class\ncovid/a.png,covid\n');
    await assert.rejects(readDataset(bad), (e: unknown) => e instanceof DatasetError && /no "label" column/.test(e.message) && e.message.includes('manifest.csv'));
    await assert.rejects(readDataset(bad, { manifest: join(bad, 'nope.csv') }), (e: unknown) => e instanceof DatasetError && /cannot be read/.test(e.message));
    const file = join(bad, 'covid', 'a.png');
    await assert.rejects(readDataset(file), (e: unknown) => e instanceof DatasetError && /not a folder/.test(e.message));
  });
});

describe('readDataset on covidx5k-dev', { skip: skipNoShared }, () => {
  test('counts 142/387/114/278 and patients known', async () => {
    const ds = await readDataset(DEV_SET);
    assert.equal(ds.origin, 'manifest');
    assert.equal(ds.hasPatients, true);
    const count = (split: string, label: 0 | 1) => ds.items.filter((i) => i.split === split && i.label === label).length;
    assert.deepEqual([count('train', 1), count('train', 0), count('test', 1), count('test', 0)], [142, 387, 114, 278]);
    assert.equal(ds.items.length, 921);
    assert.ok(ds.items.every((i) => i.source && i.view), 'source and view are filled from the manifest');
    // the folder layout agrees with the manifest
    const folders = await readDataset(DEV_SET, { manifest: false });
    assert.deepEqual(folders.items.map((i) => `${i.rel}:${i.label}`), ds.items.map((i) => `${i.rel}:${i.label}`));
  });
});
