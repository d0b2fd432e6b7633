/**
 * Feature extraction at scale, the two sections bench/features.ts leaves out:
 * - real-size inputs: 16-bit 2500 px PNGs (dev images upscaled), and DICOM at full size (the
 *   shared fixtures: JPEG 2000 lossless and lossy, HTJ2K, JPEG extended 12-bit, JPEG lossless,
 *   JPEG baseline; plus a 2500 px uncompressed 16-bit file and a 2500 px JPEG 2000 one made here):
 *   images/s, CPU per image and peak RSS per input kind;
 * - memory against dataset size: peak RSS of `deep-covid features` and `train` at 1k, 5k and 20k
 *   images (copies of the dev set, hard links in a temp folder).
 * Every measurement runs in a process of its own, so that its peak RSS is its own. Inputs are
 * made in a temporary folder and deleted afterwards; nothing is written into the project except,
 * with --write, the section of BENCHMARKS.md between `<!-- bench:features-scale -->` markers.
 * Usage: npx tsx bench/features-scale.ts [realsize|memory|all] [sizes=1000,5000,20000] [--write]
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { dicomFile, encodeCodestream, TS } from '../test/helpers/hostile-images.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const SHARED = resolve(ROOT, '../shared');
const DEV_SET = join(SHARED, 'data', 'covidx5k-dev');
const DICOM = join(SHARED, 'data', 'dicom');
const BACKBONE = 'mobilenet_v2';
const SELF = fileURLToPath(import.meta.url);

interface Measured {
  images: number;
  seconds: number;
  /** CPU seconds of the whole process (all threads). */
  cpu: number;
  /** Peak resident set, MiB. */
  maxRss: number;
  failed?: number;
}

/** Runs this file in a child process in one of its measuring modes; returns its JSON answer. */
function child(args: string[]): Promise<Measured> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, ['--import', 'tsx', SELF, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, DEEP_COVID_DEV: '1' } });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) rej(new Error(`child ${args.join(' ')} exited ${code}: ${out.slice(-500)}`));
      else res(JSON.parse(line) as Measured);
    });
  });
}

function usage(t0: number, cpu0: NodeJS.CpuUsage): Omit<Measured, 'images'> {
  const c = process.cpuUsage(cpu0);
  return { seconds: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6, maxRss: process.resourceUsage().maxRSS / 1024 };
}

/** Child mode: extract pooled features of every file in `dir` (no cache). */
async function childExtract(dir: string): Promise<void> {
  const { env } = await import('../src/util/env.js');
  env.devModels = true;
  const { Backbone } = await import('../src/backbone/backbone.js');
  const { extractFeatures } = await import('../src/features/extract.js');
  const files = (await readdir(dir)).sort().map((f) => join(dir, f));
  const bb = await Backbone.load(BACKBONE, { modelsDir: join(SHARED, 'models'), download: false });
  // a warm-up image, so that the session's first-run costs are not counted
  await extractFeatures(bb, [{ file: files[0] }], { tensor: 'pooled', collect: false });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const res = await extractFeatures(bb, files.map((file) => ({ file })), { tensor: 'pooled', batchSize: 20, collect: false });
  const m = usage(t0, cpu0);
  await bb.release();
  console.log(JSON.stringify({ images: files.length, ...m, failed: res.stats.failed }));
}

/** Child mode: run the command line with these arguments, quietly. */
async function childCli(args: string[]): Promise<void> {
  const { main } = await import('../src/cli/main.js');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let images = 0;
  const code = await main(['node', 'deep-covid', ...args], { out: (s: string) => { const m = /^(\d+) images:/.exec(s); if (m) images = Number(m[1]); }, err: () => {} });
  if (code !== 0) throw new Error(`deep-covid ${args.join(' ')} exited ${code}`);
  console.log(JSON.stringify({ images, ...usage(t0, cpu0) }));
}

/** 16-bit grey PNGs, 2500 px on the longer side, upscaled from dev images. */
async function makeRealSize(dir: string, n: number): Promise<Record<string, string>> {
  const devFiles = (await readdir(join(DEV_SET, 'test', 'covid'))).sort().slice(0, n).map((f) => join(DEV_SET, 'test', 'covid', f));
  // the yardstick: the dev images themselves (8-bit grey PNGs, ~300 px)
  const dev = join(dir, 'dev-png');
  await mkdir(dev);
  for (const [i, f] of devFiles.entries()) await copyFile(f, join(dev, `${i}.png`));
  const kinds: Record<string, string> = { 'PNG 8-bit grey, ~300 px (dev images as they are)': dev };
  const png16 = join(dir, 'png16-2500');
  await mkdir(png16);
  let first: { data: Buffer; width: number; height: number } | null = null;
  for (const [i, f] of devFiles.entries()) {
    const img = sharp(f).resize(2500, 2500, { fit: 'inside' }).greyscale().toColourspace('grey16');
    await img.clone().png({ compressionLevel: 6 }).toFile(join(png16, `${i}.png`));
    if (!first) {
      const { data, info } = await img.raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
      first = { data, width: info.width, height: info.height };
    }
  }
  kinds['PNG 16-bit grey, 2500 px (upscaled dev images)'] = png16;
  // the first upscaled image as a 12-bit DICOM, uncompressed and as JPEG 2000 (lossless)
  const { width, height } = first!;
  const px16 = new Uint16Array(first!.data.buffer, first!.data.byteOffset, width * height);
  const px12 = px16.map((v) => v >> 4);
  const spec = { rows: height, columns: width, bitsAllocated: 16, bitsStored: 12 };
  const made: Array<[string, Uint8Array]> = [
    [`DICOM uncompressed 16/12-bit, ${width}x${height}`, dicomFile({ ...spec, pixels: new Uint8Array(px12.buffer) })],
    [`DICOM JPEG 2000 lossless 12-bit, ${width}x${height}`, dicomFile({ ...spec, transferSyntax: TS.j2kLossless, pixels: { frames: [await encodeCodestream('j2k', width, height, (x, y) => px12[y * width + x], 12)] } })],
  ];
  for (const [label, bytes] of made) {
    const d = join(dir, label.replace(/[^a-z0-9]+/gi, '-'));
    await mkdir(d);
    for (let i = 0; i < n; i++) await writeFile(join(d, `${i}.dcm`), bytes);
    kinds[label] = d;
  }
  const fixtures: Record<string, string> = {
    'DICOM JPEG 2000 lossless 10-bit, 1760x1760 (fixture)': 'ts-jpeg2000-lossless-cr-monochrome1-10bit.dcm',
    'DICOM JPEG 2000 lossy 10-bit, 1760x1760 (fixture)': 'ts-jpeg2000-lossy-cr-monochrome1-10bit.dcm',
    'DICOM HTJ2K lossless 10-bit, 1760x1760 (fixture)': 'ts-htj2k-lossless-rpcl-cr-monochrome1-10bit.dcm',
    'DICOM JPEG extended 12-bit, 2140x1760 (fixture)': 'ts-jpeg-extended-12bit-cr.dcm',
    'DICOM JPEG lossless SV1 16-bit, 1024x256 (fixture)': 'ts-jpeg-lossless-sv1-16bit-signed.dcm',
    'DICOM JPEG baseline 8-bit, 1024x1024 (fixture)': 'rsna-monochrome2-jpeg-baseline.dcm',
  };
  for (const [label, file] of Object.entries(fixtures)) {
    const d = join(dir, file.replace(/\.dcm$/, ''));
    await mkdir(d);
    for (let i = 0; i < n; i++) await copyFile(join(DICOM, file), join(d, `${i}.dcm`));
    kinds[label] = d;
  }
  return kinds;
}

/** A dataset folder of `n` images: the dev set's files (copied once) hard-linked under new names. */
async function makeCopies(src: string, n: number, into: string): Promise<string> {
  const dir = join(into, `set-${n}`);
  const groups: Array<[string, string[]]> = [];
  for (const split of ['train', 'test']) for (const label of ['covid', 'non']) groups.push([`${split}/${label}`, (await readdir(join(src, split, label))).sort()]);
  const total = groups.reduce((a, [, f]) => a + f.length, 0);
  let made = 0;
  for (const [sub] of groups) await mkdir(join(dir, sub), { recursive: true });
  for (let k = 0; made < n; k++) {
    for (const [sub, files] of groups) {
      // each group keeps its share of the whole
      const take = Math.min(files.length, Math.ceil(((n - k * total) * files.length) / total));
      for (const f of files.slice(0, Math.max(0, take))) {
        if (made >= n) break;
        await link(join(src, sub, f), join(dir, sub, `c${k}-${f}`));
        made++;
      }
    }
  }
  return dir;
}

async function realSize(work: string, n: number): Promise<string[]> {
  const kinds = await makeRealSize(work, n);
  const rows = ['| input | images | images/s | CPU ms per image | peak RSS (MiB) |', '| --- | ---: | ---: | ---: | ---: |'];
  for (const [label, dir] of Object.entries(kinds)) {
    const m = await child(['--child-extract', dir]);
    if (m.failed) throw new Error(`${label}: ${m.failed} images failed`);
    const row = `| ${label} | ${m.images} | ${(m.images / m.seconds).toFixed(1)} | ${((m.cpu * 1000) / m.images).toFixed(0)} | ${m.maxRss.toFixed(0)} |`;
    console.log(row);
    rows.push(row);
  }
  return rows;
}

async function memory(work: string, sizes: number[]): Promise<string[]> {
  // the dev set copied once into the temp folder (hard links need files of our own)
  const base = join(work, 'dev');
  for (const split of ['train', 'test']) for (const label of ['covid', 'non']) {
    await mkdir(join(base, split, label), { recursive: true });
    for (const f of await readdir(join(DEV_SET, split, label))) await copyFile(join(DEV_SET, split, label, f), join(base, split, label, f));
  }
  const cache = join(work, 'cache');
  const rows = ['| command | images | wall (s) | CPU (s) | peak RSS (MiB) | RSS beyond the 1k run, per extra image |', '| --- | ---: | ---: | ---: | ---: | ---: |'];
  const first = new Map<string, { n: number; rss: number }>();
  // a first, unmeasured pass at the smallest size fills the cache (the dev set's 921 distinct
  // images and their augmented copies), so that every measured run does the same work per image
  for (const n of [sizes[0], ...sizes]) {
    const warmUp = first.size === 0 && !rows.some((r) => r.startsWith('| warm-up'));
    const data = await makeCopies(base, n, work);
    const runs: Array<[string, string[]]> = [
      ['features', ['features', '--data', data, '--backbone', BACKBONE, '--cache', cache]],
      ['train (1 epoch)', ['train', '--data', data, '--out', join(work, `run-${n}`), '--backbone', BACKBONE, '--epochs', '1', '--cache', cache]],
    ];
    for (const [label, args] of runs) {
      const m = await child(['--child-cli', JSON.stringify(args)]);
      if (warmUp) {
        const row = `| warm-up: ${label}, features computed | ${n} | ${m.seconds.toFixed(1)} | ${m.cpu.toFixed(1)} | ${m.maxRss.toFixed(0)} | |`;
        console.log(row);
        rows.push(row);
        continue;
      }
      const f = first.get(label);
      if (!f) first.set(label, { n, rss: m.maxRss });
      const per = f ? `${(((m.maxRss - f.rss) * 2 ** 20) / (n - f.n)).toFixed(0)} B` : '';
      const row = `| ${label} | ${n} | ${m.seconds.toFixed(1)} | ${m.cpu.toFixed(1)} | ${m.maxRss.toFixed(0)} | ${per} |`;
      console.log(row);
      rows.push(row);
    }
    await rm(data, { recursive: true, force: true });
    await rm(join(work, `run-${n}`), { recursive: true, force: true });
  }
  return rows;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child-extract') return childExtract(args[1]);
  if (args[0] === '--child-cli') return childCli(JSON.parse(args[1]) as string[]);
  const what = args.find((a) => !a.startsWith('--') && !/^\d/.test(a)) ?? 'all';
  const sizes = (args.find((a) => /^\d/.test(a)) ?? '1000,5000,20000').split(',').map(Number);
  const work = await mkdtemp(join(tmpdir(), 'dc-scale-'));
  const load0 = loadavg()[0];
  const out: string[] = [];
  try {
    if (what === 'realsize' || what === 'all') {
      out.push(`Real-size inputs: \`extractFeatures\` with ${BACKBONE} (pooled, batch 20, no cache), 10 images of each kind, one process per kind (peak RSS includes the session, ~150 MiB).`, '', ...(await realSize(work, 10)), '');
    }
    if (what === 'memory' || what === 'all') {
      out.push(`Memory against dataset size: \`deep-covid features\` and \`train --epochs 1\` with ${BACKBONE} on copies of the dev set (hard links), one process each; a first unmeasured pass at the smallest size fills the cache (the dev set's 921 distinct images and their augmented copies: its own row), so the measured runs read, hash and look up every image and compute nothing new, i.e. they measure what grows with the number of images, not the (constant) decode and inference buffers.`, '', ...(await memory(work, sizes)), '');
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const text = [`Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC with \`npx tsx bench/features-scale.ts ${args.join(' ')}\`, load average ${load0.toFixed(1)} → ${loadavg()[0].toFixed(1)}.`, '', ...out].join('\n');
  console.log(`\n${text}`);
  if (!args.includes('--write')) return;
  const md = join(ROOT, 'BENCHMARKS.md');
  const [start, end] = ['<!-- bench:features-scale -->', '<!-- /bench:features-scale -->'];
  let s = existsSync(md) ? readFileSync(md, 'utf8') : '';
  if (!s.includes(start)) s += `\n${start}\n${end}\n`;
  s = s.slice(0, s.indexOf(start) + start.length) + `\n${text}\n` + s.slice(s.indexOf(end));
  writeFileSync(md, s);
}

await main();
