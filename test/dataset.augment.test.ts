import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { createAugmenter } from '../src/augment/index.js';
import { main } from '../src/cli/main.js';
import { augmentDataset } from '../src/dataset/augment.js';
import { readDataset } from '../src/dataset/read.js';
import { loadGreyImage } from '../src/input/load-image.js';
import { formatCsv, parseCsv } from '../src/util/csv.js';
import { sha256Hex } from '../src/util/hash.js';

const DEV = fileURLToPath(new URL('../../shared/data/covidx5k-dev/', import.meta.url));

async function run(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await main(['node', 'deep-covid', ...args], { out: (s) => (out += `${s}\n`), err: (s) => (out += `${s}\n`) });
  process.exitCode = undefined;
  return { code, out };
}

/** A copy of a few dev-set images (3 train covid, 2 train non, 2 test covid), with or without the manifest. */
async function smallSet(dir: string, withManifest: boolean) {
  const rows = parseCsv(await readFile(join(DEV, 'manifest.csv'), 'utf8'));
  const pick = [
    ...rows.filter((r) => r.split === 'train' && r.label === 'covid').slice(0, 3),
    ...rows.filter((r) => r.split === 'train' && r.label === 'non').slice(0, 2),
    ...rows.filter((r) => r.split === 'test' && r.label === 'covid').slice(0, 2),
  ];
  for (const r of pick) {
    await mkdir(join(dir, r.split, r.label), { recursive: true });
    await copyFile(join(DEV, r.file), join(dir, r.file));
  }
  if (withManifest) await import('node:fs/promises').then((fs) => fs.writeFile(join(dir, 'manifest.csv'), formatCsv(pick, Object.keys(rows[0]))));
  return pick;
}

async function listAll(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name).slice(dir.length + 1));
  return out.sort();
}

describe('dataset augment', () => {
  let dir: string;
  let pick: Record<string, string>[];
  let first: { code: number; out: string };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dc-aug-'));
    pick = await smallSet(dir, true);
    first = await run(['dataset', 'augment', '--data', dir, '--class', 'covid', '--factor', '3', '--quiet']);
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('writes factor-1 copies next to each train covid original, the same pixels the Augmenter makes', async () => {
    assert.equal(first.code, 0, first.out);
    assert.match(first.out, /3 covid original\(s\): 6 augmented file\(s\) written/);
    const trainCovid = pick.filter((r) => r.split === 'train' && r.label === 'covid');
    const aug = createAugmenter({}, 0);
    for (const r of trainCovid) {
      const bytes = await readFile(join(dir, r.file));
      const orig = await loadGreyImage({ bytes, name: r.file });
      for (const k of [1, 2]) {
        const file = r.file.replace(/\.png$/, `.aug${k}.png`);
        const got = await loadGreyImage(join(dir, file));
        const want = await aug.apply(orig, k, sha256Hex(bytes));
        assert.deepEqual([got.width, got.height], [orig.width, orig.height]);
        assert.deepEqual(got.data, want.data, file);
      }
      assert.equal(await stat(join(dir, r.file.replace(/\.png$/, '.aug3.png'))).then(() => true, () => false), false);
    }
    // originals untouched
    for (const r of pick) assert.deepEqual(await readFile(join(dir, r.file)), await readFile(join(DEV, r.file)));
  });

  it('adds manifest rows with derived_from and the original patient, keeping other columns', async () => {
    const rows = parseCsv(await readFile(join(dir, 'manifest.csv'), 'utf8'));
    assert.equal(rows.length, pick.length + 6);
    const augRows = rows.filter((r) => r.derived_from);
    assert.equal(augRows.length, 6);
    for (const r of augRows) {
      const o = pick.find((p) => p.file === r.derived_from)!;
      assert.equal(r.patient_id, o.patient_id);
      assert.equal(r.split, 'train');
      assert.equal(r.label, 'covid');
      assert.equal(r.source_repo, o.source_repo);
      assert.equal(r.file, o.file.replace(/\.png$/, `.aug${r.file.match(/aug(\d)/)![1]}.png`));
    }
    const ds = await readDataset(dir);
    assert.equal(ds.items.filter((i) => i.split === 'train' && i.label === 1).length, 9);
  });

  it('is idempotent: a re-run writes nothing and adds no rows', async () => {
    const before = await listAll(dir);
    const manifestBefore = await readFile(join(dir, 'manifest.csv'), 'utf8');
    const again = await run(['dataset', 'augment', '--data', dir, '--class', 'covid', '--factor', '3', '--quiet']);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /0 augmented file\(s\) written, 6 already present; 0 manifest row\(s\) added/);
    assert.deepEqual(await listAll(dir), before);
    assert.equal(await readFile(join(dir, 'manifest.csv'), 'utf8'), manifestBefore);
  });

  it('the augmented set still passes dataset check (copies stay with their patient)', async () => {
    const res = await run(['dataset', 'check', dir, '--quiet']);
    assert.equal(res.code, 0, res.out);
  });

  it('creates a manifest from the folders when there is none', async () => {
    const d2 = await mkdtemp(join(tmpdir(), 'dc-aug2-'));
    try {
      await smallSet(d2, false);
      const r = await augmentDataset(d2, { factor: 2, split: 'all' });
      assert.deepEqual([r.originals, r.written, r.manifestCreated], [5, 5, true]);
      const rows = parseCsv(await readFile(join(d2, 'manifest.csv'), 'utf8'));
      assert.equal(rows.length, 7 + 5);
      assert.equal(rows.filter((x) => x.derived_from).length, 5);
      const m = await sharp(join(d2, rows.find((x) => x.derived_from)!.file)).metadata();
      assert.deepEqual([m.format, m.channels], ['png', 1]);
      const r2 = await augmentDataset(d2, { factor: 2, split: 'all' });
      assert.deepEqual([r2.written, r2.manifestRowsAdded], [0, 0]);
    } finally {
      await rm(d2, { recursive: true, force: true });
    }
  });
});
