/**
 * Throughput and peak memory of `dataset build` and `dataset check` on a synthetic set of N images
 * (default 2,000): stand-in radiographs of 320x384 px (random ellipses on a gradient, with noise),
 * 30 % covid, patients with 1–3 images, written as PNG into an imagefolder-like source with a
 * metadata CSV. Each phase runs in its own process so its peak RSS is its own.
 * Usage: npx tsx bench/dataset.ts [N] [workdir]
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { buildDataset } from '../src/dataset/build.js';
import { checkDataset } from '../src/dataset/check.js';
import { forEachLimit } from '../src/dataset/pool.js';
import { Rng } from '../src/util/rng.js';

const W = 320;
const H = 384;

/** A stand-in radiograph: vertical gradient, 12 random ellipses, pixel noise. */
function synth(seed: number): Uint8Array {
  const rng = new Rng(seed);
  const img = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) img[y * W + x] = 30 + (y * 60) / H;
  for (let k = 0; k < 12; k++) {
    const cx = rng.int(W);
    const cy = rng.int(H);
    const rx = 10 + rng.int(80);
    const ry = 10 + rng.int(80);
    const g = rng.int(200);
    for (let y = Math.max(0, cy - ry); y < Math.min(H, cy + ry); y++) {
      for (let x = Math.max(0, cx - rx); x < Math.min(W, cx + rx); x++) {
        const dx = (x - cx) / rx;
        const dy = (y - cy) / ry;
        if (dx * dx + dy * dy <= 1) img[y * W + x] = (img[y * W + x] + g) >> 1;
      }
    }
  }
  for (let i = 0; i < img.length; i++) img[i] = Math.min(255, img[i] + rng.int(12));
  return img;
}

async function generate(dir: string, n: number): Promise<void> {
  await mkdir(join(dir, 'src', 'images'), { recursive: true });
  const rng = new Rng(1);
  const rows: string[] = ['file,label,patient'];
  let patient = 0;
  let left = 0;
  let label = 'non';
  for (let i = 0; i < n; i++) {
    if (left === 0) {
      patient++;
      left = 1 + rng.int(3);
      label = rng.next() < 0.3 ? 'covid' : 'non';
    }
    left--;
    rows.push(`images/img${i}.png,${label},p${patient}`);
  }
  await writeFile(join(dir, 'src', 'metadata.csv'), `${rows.join('\n')}\n`);
  await forEachLimit([...Array(n).keys()], 4, async (i) => {
    await sharp(synth(1000 + i), { raw: { width: W, height: H, channels: 1 } }).png({ compressionLevel: 1 }).toFile(join(dir, 'src', 'images', `img${i}.png`));
  });
  await writeFile(join(dir, 'config.json'), JSON.stringify({
    sources: [{ name: 'synth', preset: 'csv', root: 'src', metadata: 'src/metadata.csv', columns: { file: 'file', label: 'label', patient: 'patient' } }],
    size: 256, split: { fractions: { train: 0.8, test: 0.2 } }, seed: 0,
  }));
}

const mb = () => (process.resourceUsage().maxRSS / 1024).toFixed(0);

async function phase(name: string, dir: string, n: number): Promise<void> {
  if (name === 'gen') {
    const t = performance.now();
    await generate(dir, n);
    console.log(`generate ${n}: ${((performance.now() - t) / 1000).toFixed(1)} s, peak RSS ${mb()} MB`);
  } else if (name === 'build') {
    const r = await buildDataset(JSON.parse(await import('node:fs/promises').then((fs) => fs.readFile(join(dir, 'config.json'), 'utf8'))), dir, join(dir, 'out'), { force: true });
    console.log(`build ${n}: ${r.written} written in ${r.seconds.toFixed(1)} s = ${r.imagesPerSecond.toFixed(1)} images/s, ${r.duplicatePairs.length} duplicate pairs, peak RSS ${mb()} MB`);
  } else {
    const r = await checkDataset(join(dir, 'out'), {});
    console.log(`check ${r.images}: ${r.seconds.toFixed(1)} s = ${r.imagesPerSecond.toFixed(1)} images/s, leakage ${r.leakage}, ${r.candidates} candidates, peak RSS ${mb()} MB`);
  }
}

const [a, b, c] = process.argv.slice(2);
if (a === '--phase') {
  await phase(b, c, Number(process.argv[5]));
} else {
  const n = Number(a ?? 2000);
  const dir = b ?? (await mkdtemp(join(tmpdir(), 'dc-bench-')));
  const self = fileURLToPath(import.meta.url);
  for (const p of ['gen', 'build', 'check']) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--phase', p, dir, String(n)], { stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
  if (!b) await rm(dir, { recursive: true, force: true });
}
