/**
 * Feature-extraction benchmark: for each backbone, the bare forward rate on a ready tensor (batch 1
 * and 20), the end-to-end rate from PNG files on disk to cached features (extractFeatures with a
 * fresh FeatureCache), and onnxruntime's SGEMM rate as the machine's yardstick. Writes a Markdown
 * table into BENCHMARKS.md between `<!-- bench:features -->` and `<!-- /bench:features -->`.
 * Usage: npx tsx bench/features.ts [n-images=200] [seconds-per-timing=3] [backbone,...]
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { Backbone } from '../src/backbone/backbone.js';
import { PAPER_BACKBONES } from '../src/backbone/registry.js';
import { readDataset } from '../src/dataset/read.js';
import { FeatureCache } from '../src/features/cache.js';
import { extractFeatures, featureShape } from '../src/features/extract.js';
import { createHash } from 'node:crypto';
import { decodeProbed, probeImage, readSource, type ProbedImage } from '../src/input/load-image.js';
import { resizeAndCropGrey } from '../src/preprocess/portable.js';
import { cropProbed, greyToTensor, resizeAndCropProbed } from '../src/preprocess/to-tensor.js';
import { env } from '../src/util/env.js';

// benchmarks use the backbones in ../shared/models beside the checkout
env.devModels = true;

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const SHARED = resolve(ROOT, '../shared');
const MODELS = join(SHARED, 'models');
const DEV_SET = join(SHARED, 'data', 'covidx5k-dev');
const N_IMAGES = Number(process.argv[2] ?? 200);
/** Backbones to measure (comma-separated; default: all of the paper's). */
const ONLY = process.argv[4] ? process.argv[4].split(',') : null;
const MIN_SECONDS = Number(process.argv[3] ?? 3);
/** ResNet-18 at 224x224: 1.82 GMACs = 3.6 GFLOP per image. */
const RESNET18_GFLOP = 3.6;

/** Calls `fn` (after warm-up) until at least MIN_SECONDS have passed; returns seconds per call. */
/** Rounds of (bare, end-to-end) measurements per backbone; medians are reported. */
const ROUNDS = 3;

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function timeIt(fn: () => Promise<unknown>, warmup = 2): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  let calls = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < MIN_SECONDS * 1000) {
    await fn();
    calls++;
    elapsed = performance.now() - t0;
  }
  return elapsed / 1000 / calls;
}

/** GFLOP/s of a 1024x1024 by 1024x1024 float32 MatMul in onnxruntime (a model built in memory). */
async function sgemmGflops(): Promise<number> {
  const { onnx } = onnxProto;
  const n = 1024;
  const dims = [{ dimValue: n }, { dimValue: n }];
  const tensorType = { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims } } };
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'sgemm',
      node: [{ opType: 'MatMul', input: ['a', 'b'], output: ['c'] }],
      // B is a constant, as weights are in a network (onnxruntime pre-packs it once)
      initializer: [{ name: 'b', dims: [n, n], dataType: onnx.TensorProto.DataType.FLOAT, floatData: Array.from({ length: n * n }, (_, i) => Math.cos(i)) }],
      input: [{ name: 'a', type: tensorType }],
      output: [{ name: 'c', type: tensorType }],
    },
  });
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish());
  const a = new ort.Tensor('float32', Float32Array.from({ length: n * n }, (_, i) => Math.sin(i)), [n, n]);
  const sec = await timeIt(() => session.run({ a }), 3);
  await session.release();
  return (2 * n ** 3) / sec / 1e9;
}

function machine(): string[] {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown';
  const flags = /^flags\s*:\s*(.+)$/m.exec(cpuinfo)?.[1].split(' ') ?? [];
  const simd = ['avx2', 'fma', 'avx512f'].filter((f) => flags.includes(f)).join(', ') || 'none found';
  return [
    `- cores (nproc): ${availableParallelism()}; CPU: ${model} (SIMD: ${simd})`,
    `- memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- node ${process.version}, onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}, default intra-op threads (all cores)`,
  ];
}

interface Row {
  name: string;
  weights: string;
  tensor: 'pooled' | 'map';
  b1: number;
  b20: number;
  e2e: number;
  e2eSeconds: number;
  /** CPU milliseconds per image (all threads), medians: bare batch-20 forward, and end to end. */
  bareCpu: number;
  e2eCpu: number;
  /** CPU milliseconds per image of the same extraction with a stand-in for the forward pass. */
  restCpu: number;
}

/**
 * CPU milliseconds per image of everything extraction does besides the forward pass (reading,
 * hashing, cache lookups, decoding, preprocessing, the finiteness check, the cache writes): the
 * same extractFeatures with a fresh cache, the backbone's pass replaced by features of the right
 * size at once.
 */
async function withoutForward(bb: Backbone, files: string[], tensor: 'pooled' | 'map'): Promise<number> {
  const { dim } = await featureShape(bb, tensor);
  const standIn = Object.create(bb) as Backbone;
  standIn.lend = async (input, n) => {
    const d = new Float32Array(n * dim).fill(0.5);
    return { features: tensor === 'map' ? { map: d } : { pooled: d }, input };
  };
  const dir = await mkdtemp(join(tmpdir(), 'dc-bench-rest-'));
  try {
    const c0 = process.cpuUsage();
    await extractFeatures(standIn, files.map((file) => ({ file })), { tensor, batchSize: 20, cache: new FeatureCache(dir), collect: false });
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000 / files.length;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * CPU milliseconds per image of each stage of the end-to-end path beyond the forward pass, from
 * process.cpuUsage (all threads; robust on a shared machine, unlike wall time), 20 at a time.
 */
async function stageCpu(files: string[], cfg: import('../src/preprocess/config.js').PreprocessConfig): Promise<string> {
  const cpuMs = async (fn: (f: string, i: number) => unknown): Promise<number> => {
    const c0 = process.cpuUsage();
    for (let s = 0; s < files.length; s += 20) await Promise.all(files.slice(s, s + 20).map(async (f, j) => fn(f, s + j)));
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000 / files.length;
  };
  const bytes: Uint8Array[] = [];
  const probes: ProbedImage[] = [];
  const grey: Uint8Array[] = [];
  const read = await cpuMs(async (f, i) => (bytes[i] = (await readSource(f)).bytes));
  const sha = await cpuMs((_, i) => createHash('sha256').update(bytes[i]).digest('hex'));
  const probe = await cpuMs(async (f, i) => (probes[i] = await probeImage({ bytes: bytes[i], name: f })));
  const sharpCrop = await cpuMs(async (_, i) => resizeAndCropProbed(probes[i], cfg));
  const jsDecode = await cpuMs(async (_, i) => (grey[i] = (await decodeProbed(probes[i])).data));
  const jsResize = await cpuMs((_, i) => resizeAndCropGrey(grey[i], probes[i].width, probes[i].height, cfg));
  const out = new Float32Array(3 * 224 * 224);
  const crop = grey.map((g, i) => resizeAndCropGrey(g, probes[i].width, probes[i].height, cfg));
  const lut = await cpuMs((_, i) => greyToTensor(crop[i], cfg, out));
  // SqueezeNet's cache entry: a 512x13x13 map (338 KiB), checksummed and written atomically
  const dir = await mkdtemp(join(tmpdir(), 'dc-bench-entry-'));
  const cache = new FeatureCache(dir);
  const map = Float32Array.from({ length: 512 * 13 * 13 }, (_, i) => Math.sin(i));
  const parts = { modelSha256: '0'.repeat(64), preprocess: '', tensor: 'map' as const, augment: '' };
  const entry = await cpuMs(async (_, i) => cache.put(cache.key(String(i), parts), map, [512, 13, 13]));
  await rm(dir, { recursive: true, force: true });
  const fast = probes.filter((p) => p.greyPng).length;
  const f = (x: number) => x.toFixed(2);
  return `CPU ms per image (process.cpuUsage, 20 at a time): read ${f(read)}, sha256 ${f(sha)}, probe ${f(probe)}, ` +
    `sharp fused decode + resize + crop ${f(sharpCrop)} (the path before issue 18's JavaScript decoder), ` +
    `JavaScript PNG decode ${f(jsDecode)} + resize + crop ${f(jsResize)} (${fast} of ${files.length} files take it), LUT normalisation ${f(lut)}, ` +
    `SqueezeNet's 338 KiB cache entry written ${f(entry)}`;
}

async function main(): Promise<void> {
  const ds = await readDataset(DEV_SET);
  // evenly spaced over the sorted items, so both classes, both splits and all sources are in
  const step = ds.items.length / Math.min(N_IMAGES, ds.items.length);
  const files = Array.from({ length: Math.min(N_IMAGES, ds.items.length) }, (_, i) => ds.items[Math.floor(i * step)].file);
  const mach = machine();
  for (const l of mach) console.log(l);
  const gflops = await sgemmGflops();
  console.log(`SGEMM 1024^3 (onnxruntime MatMul): ${gflops.toFixed(1)} GFLOP/s`);

  // decode + preprocess alone (no model), batches of 20 in parallel as extractFeatures does
  const cfg = (await import('../src/preprocess/config.js')).IMAGENET_224;
  const buf = new Float32Array(20 * 3 * 224 * 224);
  const tDec = performance.now();
  for (let s = 0; s < files.length; s += 20) {
    await Promise.all(files.slice(s, s + 20).map(async (f, j) => greyToTensor((await cropProbed(await probeImage(f), cfg)).pixels, cfg, buf, j * 3 * 224 * 224)));
  }
  const decodeRate = files.length / ((performance.now() - tDec) / 1000);
  console.log(`decode + preprocess only (20 at a time): ${decodeRate.toFixed(1)} images/s`);
  const stages = await stageCpu(files, cfg);
  console.log(stages);

  const rows: Row[] = [];
  for (const name of ONLY ?? PAPER_BACKBONES) {
    // the bare rate: the session on this thread, a ready tensor, nothing copied (the strictest yardstick);
    // end to end: the backbone as extraction gets it by default (on a thread of its own)
    const bb = await Backbone.load(name, { modelsDir: MODELS, download: false, offThread: false });
    const ex = await Backbone.load(name, { modelsDir: MODELS, download: false });
    const tensor = bb.manifest.head.kind === 'squeezenet-conv' ? 'map' : 'pooled';
    const want = tensor === 'map' ? { map: true } : { pooled: true };
    // a ready tensor: the preprocessed dev images (values as in real use)
    const x = buf.slice();
    const b1 = 1 / (await timeIt(() => bb.run(x, 1, want)));
    // bare and end-to-end alternate over ROUNDS rounds and the medians are compared, so that a
    // noisy neighbour on a shared machine hits both alike; CPU per image from process.cpuUsage
    const bare: number[] = [];
    const bareCpu: number[] = [];
    const e2e: number[] = [];
    const e2eCpu: number[] = [];
    const restCpu: number[] = [];
    const e2eSeconds: number[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const c0 = process.cpuUsage();
        let calls = 0;
        bare.push(20 / (await timeIt(() => (calls++, bb.run(x, 20, want)))));
        const c = process.cpuUsage(c0);
        bareCpu.push((c.user + c.system) / 1000 / (20 * calls));
        const dir = await mkdtemp(join(tmpdir(), 'dc-bench-'));
        try {
          const c1 = process.cpuUsage();
          const res = await extractFeatures(ex, files.map((file) => ({ file })), { tensor, batchSize: 20, cache: new FeatureCache(dir), collect: false });
          const d = process.cpuUsage(c1);
          if (res.stats.failed > 0) throw new Error(`${res.stats.failed} images failed: ${res.failures[0].message}`);
          e2e.push(res.stats.imagesPerSecond);
          e2eSeconds.push(res.stats.seconds);
          e2eCpu.push((d.user + d.system) / 1000 / files.length);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
        restCpu.push(await withoutForward(ex, files, tensor));
      }
    } finally {
      await bb.release();
      await ex.release();
    }
    rows.push({ name, weights: bb.weights, tensor, b1, b20: median(bare), e2e: median(e2e), e2eSeconds: median(e2eSeconds), bareCpu: median(bareCpu), e2eCpu: median(e2eCpu), restCpu: median(restCpu) });
    const r = rows[rows.length - 1];
    console.log(`${name}: bare b1 ${b1.toFixed(1)}/s, b20 ${r.b20.toFixed(1)}/s (${r.bareCpu.toFixed(2)} CPU ms/image); end-to-end ${r.e2e.toFixed(1)}/s (${(r.e2e / r.b20 * 100).toFixed(0)}%, ${r.e2eCpu.toFixed(2)} CPU ms/image; without the forward pass ${r.restCpu.toFixed(2)})`);
  }

  const r18 = rows.find((r) => r.name === 'resnet18');
  const table = [
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC (load average ${loadavg().map((l) => l.toFixed(1)).join(', ')} at the end) with \`npx tsx bench/features.ts ${N_IMAGES} ${MIN_SECONDS}\` (${files.length} dev-set PNGs end to end, batch 20; each bare rate is the mean over ≥ ${MIN_SECONDS} s after warm-up, the session on the calling thread; end to end with the backbone as extraction loads it by default, on its own thread; bare batch-20 and end-to-end runs alternate over ${ROUNDS} rounds and the medians are shown, because the machine's speed drifts).`,
    '',
    ...mach,
    `- onnxruntime SGEMM (1024x1024 by 1024x1024 MatMul): **${gflops.toFixed(1)} GFLOP/s**`,
    `- decode + preprocess alone (PNG → 224x224 tensor, 20 in parallel): ${decodeRate.toFixed(1)} images/s`,
    `- ${stages}`,
    '',
    '| backbone | weights | tensor | bare b1 (img/s) | bare b20 (img/s) | end-to-end (img/s) | end-to-end / bare b20 | CPU ms/image: bare b20, end to end, end to end without the forward pass |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.name} | ${r.weights} | ${r.tensor} | ${r.b1.toFixed(1)} | ${r.b20.toFixed(1)} | ${r.e2e.toFixed(1)} | ${(r.e2e / r.b20 * 100).toFixed(0)}% | ${r.bareCpu.toFixed(2)}, ${r.e2eCpu.toFixed(2)}, ${r.restCpu.toFixed(2)} |`),
    '',
    r18
      ? `ResNet-18 effective rate: ${RESNET18_GFLOP} GFLOP x ${r18.b20.toFixed(1)} img/s = **${(RESNET18_GFLOP * r18.b20).toFixed(1)} GFLOP/s** at batch 20 ` +
        `(${((RESNET18_GFLOP * r18.b20) / gflops * 100).toFixed(0)}% of SGEMM); end to end ${(RESNET18_GFLOP * r18.e2e).toFixed(1)} GFLOP/s.`
      : '',
  ].join('\n');
  console.log(`\n${table}`);

  if (process.env.BENCH_NO_WRITE) return;
  const mdPath = join(ROOT, 'BENCHMARKS.md');
  const start = '<!-- bench:features -->';
  const end = '<!-- /bench:features -->';
  let md = existsSync(mdPath) ? readFileSync(mdPath, 'utf8') : `# Benchmarks\n\n## Feature extraction\n\n${start}\n${end}\n`;
  if (!md.includes(start) || !md.includes(end)) md += `\n## Feature extraction\n\n${start}\n${end}\n`;
  md = md.slice(0, md.indexOf(start) + start.length) + `\n${table}\n` + md.slice(md.indexOf(end));
  writeFileSync(mdPath, md);
  console.log(`\nwritten to ${mdPath}`);
}

await main();
