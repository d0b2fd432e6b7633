import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { main } from '../src/cli/main.js';
import type { BuildReport } from '../src/dataset/build.js';
import { readDataset } from '../src/dataset/read.js';
import { parseCsv } from '../src/util/csv.js';
import { Rng } from '../src/util/rng.js';

/** A random-shapes grey PNG (a stand-in radiograph). */
async function shapes(seed: number, w: number, h: number): Promise<Buffer> {
  const rng = new Rng(seed);
  let body = '';
  for (let k = 0; k < 14; k++) {
    const g = rng.int(256);
    body += `<ellipse cx="${rng.int(w)}" cy="${rng.int(h)}" rx="${4 + rng.int(w / 4)}" ry="${4 + rng.int(h / 4)}" fill="rgb(${g},${g},${g})"/>`;
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="100%" height="100%" fill="rgb(15,15,15)"/>${body}</svg>`;
  return sharp(Buffer.from(svg)).greyscale().png().toBuffer();
}

interface Row { patientid: string; finding: string; view: string; modality: string; age: string; sex: string; folder: string; filename: string; license: string }

/**
 * covid-chestxray-style fixture: an ieee8023-like source (metadata.csv) with patients that have
 * several images, lateral views, CT rows, "todo" findings and a child; an imagefolder source of
 * normals holding planted copies of ieee images (a JPEG re-encode resized to 90 %, an exact byte
 * copy, and a copy of a COVID image filed as normal: conflicting labels).
 */
async function makeFixture(dir: string) {
  const ieee = join(dir, 'ieee');
  const normals = join(dir, 'normals', 'normal');
  await mkdir(join(ieee, 'images'), { recursive: true });
  await mkdir(normals, { recursive: true });
  const rows: Row[] = [];
  let seed = 100;
  const add = async (pid: string, finding: string, view: string, extra: Partial<Row> = {}) => {
    const filename = `p${pid}-${rows.length}.png`;
    await writeFile(join(ieee, 'images', filename), await shapes(seed++, 100, 120));
    rows.push({ patientid: pid, finding, view, modality: 'X-ray', age: '50', sex: 'M', folder: 'images', filename, license: 'CC BY', ...extra });
  };
  // COVID: 6 patients with 3 images, 12 with 1 → 30 frontal images; each multi-image patient also has a lateral film
  for (let p = 1; p <= 6; p++) {
    for (let k = 0; k < 3; k++) await add(`${p}`, 'Pneumonia/Viral/COVID-19', k === 0 ? 'PA' : 'AP Supine');
    await add(`${p}`, 'COVID-19', 'L');
  }
  for (let p = 7; p <= 18; p++) await add(`${p}`, 'COVID-19', p % 2 ? 'PA' : 'AP');
  // other findings: 5 patients x 2 + 10 singles = 20 frontal images
  for (let p = 30; p <= 34; p++) for (let k = 0; k < 2; k++) await add(`${p}`, 'Pneumonia/Bacterial', 'PA');
  for (let p = 35; p <= 44; p++) await add(`${p}`, 'No Finding', 'AP');
  // rows that must be dropped
  await add('50', 'todo', 'PA');
  await add('51', '', 'PA');
  await add('52', 'COVID-19', 'Axial', { modality: 'CT' });
  await add('53', 'COVID-19', 'PA', { age: '9' });
  const header = 'patientid,offset,sex,age,finding,view,modality,folder,filename,license,notes';
  const csv = [header, ...rows.map((r) => [r.patientid, '', r.sex, r.age, r.finding, r.view, r.modality, r.folder, r.filename, r.license, '"a, quoted note"'].join(','))].join('\n');
  await writeFile(join(ieee, 'metadata.csv'), `${csv}\n`);
  // 20 normals, each its own patient
  for (let k = 0; k < 20; k++) await writeFile(join(normals, `n${k}.png`), await shapes(1000 + k, 110, 100));
  const byName = (f: string) => join(ieee, 'images', f);
  const nonRow = rows.find((r) => r.patientid === '31')!;
  const nonRow2 = rows.find((r) => r.patientid === '40')!;
  const covidRow = rows.find((r) => r.patientid === '9')!;
  await writeFile(join(normals, 'copy-jpeg.jpg'), await sharp(byName(nonRow.filename)).resize(90).jpeg({ quality: 85 }).toBuffer());
  await writeFile(join(normals, 'copy-exact.png'), await readFile(byName(nonRow2.filename)));
  await writeFile(join(normals, 'copy-of-covid.png'), await sharp(byName(covidRow.filename)).png({ compressionLevel: 1 }).toBuffer());
  // one image smaller than the output size: kept as it is, never upscaled
  await writeFile(join(normals, 'small.png'), await shapes(5000, 40, 50));
  const config = {
    sources: [
      { name: 'ieee', preset: 'covid-chestxray', root: 'ieee' },
      { name: 'normals', preset: 'imagefolder', root: 'normals', labels: { normal: 'non' }, license: 'public' },
    ],
    size: 64,
    split: { counts: { train: { covid: 10, non: 20 }, test: { covid: 8, non: 15 } } },
    seed: 3,
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  return { rows, nonRow, nonRow2, covidRow };
}

describe('dataset build', () => {
  let dir: string;
  let fx: Awaited<ReturnType<typeof makeFixture>>;
  let report: BuildReport;
  let manifest: Record<string, string>[];
  let stdout = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dc-build-'));
    fx = await makeFixture(dir);
    const code = await main(['node', 'deep-covid', 'dataset', 'build', '--config', join(dir, 'config.json'), '--out', join(dir, 'out'), '--quiet'], {
      out: (s) => (stdout += `${s}\n`), err: (s) => (stdout += `${s}\n`),
    });
    assert.equal(code, 0, stdout);
    report = JSON.parse(await readFile(join(dir, 'out', 'build-report.json'), 'utf8')) as BuildReport;
    manifest = parseCsv(await readFile(join(dir, 'out', 'manifest.csv'), 'utf8'));
  });
  after(async () => (process.env.KEEP ? undefined : rm(dir, { recursive: true, force: true })));

  it('writes the configured counts in the paper layout', () => {
    assert.deepEqual(report.counts, { train: { covid: 10, non: 20 }, test: { covid: 8, non: 15 } });
    assert.match(stdout, /train\s+10\s+20/);
  });

  it('puts no patient in two splits', () => {
    const splitOf = new Map<string, string>();
    for (const r of manifest) {
      assert.ok(r.patient_id, `patient id of ${r.file}`);
      assert.equal(splitOf.get(r.patient_id) ?? r.split, r.split, `patient ${r.patient_id}`);
      splitOf.set(r.patient_id, r.split);
    }
  });

  it('drops lateral views, CT, unlabelled rows and children', () => {
    assert.ok(manifest.every((r) => r.view !== 'L'));
    assert.deepEqual(report.dropped.ieee, { 'not a frontal view': 6, 'no usable label': 2, 'not X-ray': 1, 'younger than 18': 1 });
  });

  it('finds the planted duplicates, keeps one copy, merges patients, drops conflicting labels', () => {
    const kinds = new Map(report.duplicatePairs.map((p) => [[p.a, p.b].sort().join(' ~ '), p.kind]));
    assert.equal(kinds.get([`ieee:images/${fx.nonRow.filename}`, 'normals:normal/copy-jpeg.jpg'].sort().join(' ~ ')), 'near');
    assert.equal(kinds.get([`ieee:images/${fx.nonRow2.filename}`, 'normals:normal/copy-exact.png'].sort().join(' ~ ')), 'file');
    assert.equal(kinds.get([`ieee:images/${fx.covidRow.filename}`, 'normals:normal/copy-of-covid.png'].sort().join(' ~ ')), 'pixels');
    assert.equal(report.duplicatePairs.length, 3, JSON.stringify(report.duplicatePairs));
    assert.deepEqual(report.removedDuplicates.sort(), ['normals:normal/copy-exact.png', 'normals:normal/copy-jpeg.jpg']);
    assert.deepEqual(report.conflictingLabels.map((g) => g.sort()), [[`ieee:images/${fx.covidRow.filename}`, 'normals:normal/copy-of-covid.png']]);
    const paths = new Set(manifest.map((r) => `${r.source}:${r.source_path}`));
    assert.ok(!paths.has('normals:normal/copy-exact.png') && !paths.has('normals:normal/copy-jpeg.jpg') && !paths.has('normals:normal/copy-of-covid.png'));
  });

  it('writes a complete manifest with provenance, matching the files on disk', async () => {
    for (const c of ['split', 'label', 'file', 'source', 'source_path', 'patient_id', 'view', 'age', 'sex', 'license', 'derived_from']) assert.ok(c in manifest[0], c);
    const onDisk: string[] = [];
    for (const s of ['train', 'test']) for (const c of ['covid', 'non']) for (const f of await readdir(join(dir, 'out', s, c))) onDisk.push(`${s}/${c}/${f}`);
    assert.deepEqual(onDisk.sort(), manifest.map((r) => r.file).sort());
    for (const r of manifest) {
      assert.equal(r.file, `${r.split}/${r.label}/${r.file.split('/')[2]}`);
      const src = join(dir, r.source === 'ieee' ? 'ieee' : 'normals', r.source_path);
      assert.equal(r.sha256, createHash('sha256').update(await readFile(src)).digest('hex'), `sha256 of ${r.source_path}`);
      assert.ok(r.license);
      if (r.source === 'ieee') {
        const row = fx.rows.find((x) => `images/${x.filename}` === r.source_path)!;
        assert.equal(r.patient_id, `ieee:${row.patientid}`);
        assert.equal(r.label, /COVID-19/.test(row.finding) ? 'covid' : 'non');
      }
    }
    const ds = await readDataset(join(dir, 'out'));
    assert.equal(ds.items.length, manifest.length);
    assert.ok(ds.hasPatients);
  });

  it('writes 8-bit grey PNGs with the shorter side resized, never upscaled', async () => {
    for (const r of manifest.slice(0, 10).concat(manifest.filter((x) => x.source_path === 'normal/small.png'))) {
      const m = await sharp(join(dir, 'out', r.file)).metadata();
      assert.equal(m.format, 'png');
      assert.equal(m.channels, 1);
      assert.equal(m.depth, 'uchar');
      const short = Math.min(m.width!, m.height!);
      assert.equal(short, r.source_path === 'normal/small.png' ? 40 : 64, r.file);
    }
  });

  it('with paOnly, duplicates "group" and fractions: keeps copies together and uses every image', async () => {
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { sources: Record<string, unknown>[]; split: unknown; duplicates?: string };
    cfg.sources[0].paOnly = true;
    cfg.split = { fractions: { train: 0.5, test: 0.5 } };
    cfg.duplicates = 'group';
    await writeFile(join(dir, 'config2.json'), JSON.stringify(cfg));
    const code = await main(['node', 'deep-covid', 'dataset', 'build', '--config', join(dir, 'config2.json'), '--out', join(dir, 'out2'), '--quiet'], { out: () => {}, err: () => {} });
    assert.equal(code, 0);
    const rows = parseCsv(await readFile(join(dir, 'out2', 'manifest.csv'), 'utf8'));
    const r2 = JSON.parse(await readFile(join(dir, 'out2', 'build-report.json'), 'utf8')) as BuildReport;
    assert.equal(r2.dropped.ieee['not PA'], 34);
    assert.ok(rows.filter((r) => r.source === 'ieee').every((r) => r.view === 'PA'));
    // 12 covid PA + 10 non PA from ieee (minus the conflicting covid copy), 24 normals minus the conflicting copy
    assert.equal(rows.length, 11 + 10 + 23);
    assert.equal(r2.unassigned, 0);
    const a = rows.find((r) => r.source_path === `images/${fx.nonRow.filename}`)!;
    const b = rows.find((r) => r.source_path === 'normal/copy-jpeg.jpg')!;
    assert.equal(a.split, b.split);
    const bySplit = (s: string, l: string) => rows.filter((r) => r.split === s && r.label === l).length;
    assert.ok(Math.abs(bySplit('train', 'non') - bySplit('test', 'non')) <= 2);
  });

  it('refuses to overwrite a built dataset without --force, and rebuilds identically with it', async () => {
    const args = ['node', 'deep-covid', 'dataset', 'build', '--config', join(dir, 'config.json'), '--out', join(dir, 'out'), '--quiet'];
    let err = '';
    assert.equal(await main(args, { out: () => {}, err: (s) => (err += s) }), 1);
    assert.match(err, /--force/);
    assert.equal(await main([...args, '--force'], { out: () => {}, err: () => {} }), 0);
    const again = parseCsv(await readFile(join(dir, 'out', 'manifest.csv'), 'utf8'));
    assert.deepEqual(again, manifest);
  });
});
