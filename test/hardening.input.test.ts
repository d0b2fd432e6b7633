// Attack tests for the input side of issue 13 (security and reliability audit). Every hostile file
// is made here, in the test; nothing hostile is stored in the repository. Each describe() names the
// audit item it keeps fixed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import sharp from 'sharp';
import { InputError } from '../src/errors.js';
import { FeatureCache } from '../src/features/cache.js';
import { DecodePool, loadGreyImageOffThread } from '../src/input/decode-pool.js';
import { decodeDicom } from '../src/input/dicom/index.js';
import { loadGreyImage, probeImage, type ImageSource } from '../src/input/load-image.js';
import { IMAGENET_224 } from '../src/preprocess/config.js';
import { resizeAndCropProbed } from '../src/preprocess/to-tensor.js';
import { bytesText } from '../src/util/bytes.js';
import { buildServer } from '../src/server/app.js';
import { loadModelService } from '../src/server/model-service.js';
import { DEFAULT_SERVER_MAX_PIXELS } from '../src/input/load-image.js';
import { bytesText as pageBytesText } from '../src/web/wording.js';
import { trainRun } from '../src/protocol/train-run.js';
import { makeTinyDataset, syntheticXray } from './helpers/tiny-dataset.js';
import { deflatedDicomBomb, dicomFile, encodeCodestream, TS } from './helpers/hostile-images.js';
import { BAD_INPUTS_DIR, readFixture } from './helpers/dicom-oracle.js';
import { projectRoot, skipNoShared, SYNTHETIC_SQUEEZENET } from './helpers/shared.js';
import { Rng } from '../src/util/rng.js';

/** tsx's loader as a file URL, so that children started in other folders find it. */
const TSX = import.meta.resolve('tsx');

/** Runs `node --import tsx script args` with its own HOME, TMPDIR and working folder; resolves with its exit. */
function runNode(script: string, args: string[], opts: { home: string; tmp: string; cwd: string; stdin?: string }): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, script, ...args], {
      cwd: opts.cwd,
      // an inherited "0" must not switch telemetry back on; the process must force it off itself
      env: { PATH: process.env.PATH, HOME: opts.home, TMPDIR: opts.tmp, ORT_DISABLE_TELEMETRY: '0', NODE_OPTIONS: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin.end(opts.stdin ?? '');
  });
}

/** Files onnxruntime's telemetry leaves behind, if any (event store, device id, session and debug logs). */
function telemetryLitter(home: string, tmp: string, cwd: string): string[] {
  const found: string[] = [];
  if (existsSync(join(home, '.cache', 'Microsoft'))) found.push(join(home, '.cache', 'Microsoft'));
  for (const dir of [tmp, cwd]) {
    for (const f of readdirSync(dir)) if (/^mat-debug-\d+\.log$|\.ses$/.test(f)) found.push(join(dir, f));
  }
  return found;
}

let tiny: Promise<{ work: string; run: string }> | undefined;
/** One tiny trained run (synthetic SqueezeNet, 2 epochs) shared by the tests that need a model; removed at the end. */
function tinyRun(): Promise<{ work: string; run: string }> {
  tiny ??= (async () => {
    const work = await mkdtemp(join(tmpdir(), 'dc-hard-input-'));
    const data = await makeTinyDataset({ train: [6, 8], test: [2, 2], perPatient: 1, manifest: true, seed: 13 });
    const run = join(work, 'run');
    await trainRun({ data, out: run, config: { backbone: 'squeezenet1_1', epochs: 2, augmentFactor: 1 }, cache: new FeatureCache(join(work, 'cache')) });
    await rm(data, { recursive: true, force: true });
    return { work, run };
  })();
  return tiny;
}
after(async () => {
  if (tiny) await rm((await tiny).work, { recursive: true, force: true });
});

describe('13.0 + 13.10: onnxruntime telemetry is off in every entry point', { skip: skipNoShared }, () => {
  let work = '';
  let run = '';
  let image = '';
  let cli = '';
  const box = async (label: string): Promise<{ home: string; tmp: string; cwd: string }> => {
    const dirs = { home: join(work, label, 'home'), tmp: join(work, label, 'tmp'), cwd: join(work, label, 'cwd') };
    for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });
    return dirs;
  };
  before(async () => {
    ({ work, run } = await tinyRun());
    image = join(work, 'x.png');
    await writeFile(image, await syntheticXray(new Rng(1), true));
    cli = join(work, 'cli.mjs');
    await writeFile(cli, `import { main } from ${JSON.stringify(join(projectRoot, 'src', 'cli', 'main.ts'))};\nprocess.exitCode = await main(process.argv);\n`);
  });
  test('predict with a command line over 64 KB exits 0 (was SIGSEGV in the telemetry code) and leaves no telemetry files', async () => {
    const dirs = await box('long');
    // 34 spellings of the same path, each about 2 KB ("/./" repeated): 68 KB of arguments, under PATH_MAX per path
    const spell = (k: number): string => `${work}/${'./'.repeat(990 + k)}x.png`;
    const files = Array.from({ length: 34 }, (_, k) => spell(k));
    const argLen = files.reduce((s, f) => s + f.length + 1, 0);
    assert.ok(argLen > 64 * 1024, `argv is ${argLen} bytes`);
    const res = await runNode(cli, ['predict', '--run', run, '--cache', join(work, 'cache'), '--threads', '1', '-q', ...files], dirs);
    assert.equal(res.signal, null, `killed by ${res.signal}: ${res.stderr}`);
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; probability?: number });
    assert.equal(lines.length, files.length);
    assert.ok(lines.every((l) => typeof l.probability === 'number'), res.stdout.slice(0, 500));
    assert.deepEqual(telemetryLitter(dirs.home, dirs.tmp, dirs.cwd), []);
  });

  test('library use (Backbone.load + run, no CLI) leaves no telemetry files in a fresh HOME and TMPDIR', async () => {
    const dirs = await box('lib');
    const script = join(work, 'lib.mjs');
    await writeFile(script, [
      `import { Backbone } from ${JSON.stringify(join(projectRoot, 'src', 'backbone', 'backbone.ts'))};`,
      `const b = await Backbone.load('squeezenet1_1', { path: ${JSON.stringify(SYNTHETIC_SQUEEZENET)}, threads: 1 });`,
      `const f = await b.run(new Float32Array(b.imageLength), 1, { pooled: true });`,
      `console.log(f.pooled.length);`,
      `await b.release();`,
    ].join('\n'));
    const res = await runNode(script, [], dirs);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout.trim(), '512');
    assert.deepEqual(telemetryLitter(dirs.home, dirs.tmp, dirs.cwd), []);
  });

  test('predict --files-from - reads paths from standard input; --files-from FILE from a file; an empty list is a usage error', async () => {
    const dirs = await box('list');
    const list = join(work, 'list.txt');
    await writeFile(list, `${image}\r\n\n${join(work, 'missing.png')}\n`);
    const fromStdin = await runNode(cli, ['predict', '--run', run, '--cache', join(work, 'cache'), '--threads', '1', '-q', '--files-from', '-'], { ...dirs, stdin: `${image}\n${image}\n` });
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.equal(fromStdin.stdout.trim().split('\n').length, 2);
    const fromFile = await runNode(cli, ['predict', '--run', run, '--cache', join(work, 'cache'), '--threads', '1', '-q', image, '--files-from', list], dirs);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    const out = fromFile.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; error?: string });
    assert.deepEqual(out.map((o) => o.file), [image, image, join(work, 'missing.png')]);
    assert.match(out[2].error ?? '', /file not found/);
    const none = await runNode(cli, ['predict', '--run', run, '--files-from', '-'], { ...dirs, stdin: '\n\n' });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--files-from - lists no files/);
  });

  test('a worker thread whose process environment lacks the switch refuses to start onnxruntime, with the fix in the message', async () => {
    // tsx's module hooks are registered inside the worker (execArgv --import does not reach eval workers)
    const src = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(join(projectRoot, 'src', 'backbone', 'backbone.ts'))}); }).then(async ({ Backbone }) => {
      try { await Backbone.load('squeezenet1_1', { path: ${JSON.stringify(SYNTHETIC_SQUEEZENET)} }); require('node:worker_threads').parentPort.postMessage('loaded'); }
      catch (e) { require('node:worker_threads').parentPort.postMessage(String(e.message)); }
    });`;
    const ask = (env: Record<string, string>): Promise<string> => new Promise((resolve, reject) => {
      const w = new Worker(src, { eval: true, env });
      w.once('message', (m: string) => { resolve(m); void w.terminate(); });
      w.once('error', reject);
    });
    assert.match(await ask({}), /cannot be turned off from a worker thread: set ORT_DISABLE_TELEMETRY=1/);
    assert.equal(await ask({ ORT_DISABLE_TELEMETRY: '1' }), 'loaded');
  });
});

describe('13.1: a compressed frame whose codestream disagrees with the header is refused before decoding', () => {
  const pattern = (x: number, y: number): number => (x * 37 + y * 11) & 0xfff;
  const wrap = (ts: string, frame: Uint8Array, rows: number, columns: number, bits = 16): Uint8Array =>
    dicomFile({ transferSyntax: ts, rows, columns, bitsAllocated: bits, bitsStored: bits === 16 ? 12 : 8, pixels: { frames: [frame] } });
  const kinds = [['j2k', TS.j2kLossless, 'JPEG 2000 Lossless'], ['htj2k', TS.htj2kLossless, 'HTJ2K Lossless'], ['jpeg-ls', TS.jpegLsLossless, 'JPEG-LS Lossless']] as const;

  for (const [kind, ts, syntax] of kinds) {
    test(`${kind}: a 300x200 codestream inside a 16x16 header is refused, naming both sizes; over the limit it is too-large`, async () => {
      const frame = await encodeCodestream(kind, 300, 200, pattern);
      const bytes = wrap(ts, frame, 16, 16);
      await assert.rejects(loadGreyImage({ bytes, name: `${kind}.dcm` }), (e: unknown) => {
        assert.ok(e instanceof InputError, String(e));
        assert.equal(e.problem, 'corrupt');
        assert.match(e.message, new RegExp(`^${kind}\\.dcm: the ${syntax} codestream declares a 300x200 image, but the DICOM header says 16x16; refused before decoding`));
        return true;
      });
      await assert.rejects(loadGreyImage({ bytes, name: `${kind}.dcm` }, { maxPixels: 10_000 }), (e: unknown) =>
        e instanceof InputError && e.problem === 'too-large' && /declares a 300x200 image, 60000 pixels, over the limit of 10000/.test(e.message));
    });

    test(`${kind}: a codestream that agrees with its header decodes to the pixels that were encoded`, async () => {
      // (OpenJPEG's encoder needs at least 32 pixels a side for its default 5 wavelet levels)
      const frame = await encodeCodestream(kind, 80, 64, pattern);
      const { raw, header } = await decodeDicom(wrap(ts, frame, 64, 80), `${kind}-ok.dcm`, { maxPixels: 1e6 });
      assert.equal(header.columns, 80);
      for (let y = 0; y < 64; y++) for (let x = 0; x < 80; x++) assert.equal(raw[y * 80 + x], pattern(x, y));
    });
  }

  test('JPEG baseline: a 300x200 frame inside a 16x16 header is refused before decoding', async () => {
    const grey = Buffer.alloc(300 * 200, 90);
    const frame = new Uint8Array(await sharp(grey, { raw: { width: 300, height: 200, channels: 1 } }).jpeg().toBuffer());
    await assert.rejects(loadGreyImage({ bytes: wrap('1.2.840.10008.1.2.4.50', frame, 16, 16, 8), name: 'j.dcm' }),
      (e: unknown) => e instanceof InputError && e.problem === 'corrupt' && /JPEG Baseline codestream declares a 300x200 image, but the DICOM header says 16x16/.test(e.message));
  });

  test('the audit case: a real J2K fixture whose SIZ marker is patched to 12000x12000 is too-large, without decoding', { skip: skipNoShared }, async () => {
    const bytes = readFixture('ts-jpeg2000-lossless-cr-monochrome1-10bit.dcm').slice();
    const at = Buffer.from(bytes).indexOf(Buffer.from([0xff, 0x4f, 0xff, 0x51]));
    assert.ok(at > 0, 'SIZ found');
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    dv.setUint32(at + 8, 12000); // Xsiz
    dv.setUint32(at + 12, 12000); // Ysiz
    const before = process.memoryUsage().rss;
    await assert.rejects(loadGreyImage({ bytes, name: 'bomb.dcm' }), (e: unknown) =>
      e instanceof InputError && e.problem === 'too-large' && /codestream declares a 12000x12000 image, 144000000 pixels, over the limit of 100000000, but the DICOM header says 1760x1760/.test(e.message));
    // a decode of 12000 x 12000 would have taken gigabytes; refusing from the marker takes nothing
    assert.ok(process.memoryUsage().rss - before < 200 * 2 ** 20, 'no full-size allocation');
  });

  test('a frame without the marker that states its size is refused in words', async () => {
    const garbage = new Uint8Array(64).fill(7);
    await assert.rejects(loadGreyImage({ bytes: wrap(TS.j2kLossless, garbage, 16, 16), name: 'g.dcm' }),
      (e: unknown) => e instanceof InputError && e.problem === 'corrupt' && /no JPEG 2000 start-of-codestream marker \(FF4F\)/.test(e.message));
  });
});

/** Peak RSS growth (MiB) of a child process that decodes `bytes` from a file with loadGreyImage. */
async function childPeakMib(bytes: Uint8Array, expectWidth: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'dc-hard-mem-'));
  try {
    const file = join(dir, 'bomb');
    await writeFile(file, bytes);
    const script = join(dir, 'mem.mts');
    await writeFile(script, [
      `import { loadGreyImage } from ${JSON.stringify(join(projectRoot, 'src', 'input', 'load-image.ts'))};`,
      `await import(${JSON.stringify(join(projectRoot, 'src', 'input', 'dicom', 'index.ts'))});`,
      `const base = process.resourceUsage().maxRSS * 1024;`,
      `const img = await loadGreyImage(${JSON.stringify(file)});`,
      `if (img.width !== ${expectWidth} || img.data.length !== img.width * img.height) throw new Error('wrong image');`,
      `console.log((process.resourceUsage().maxRSS * 1024 - base) / 2 ** 20);`,
    ].join('\n'));
    const res = await runNode(script, [], { home: dir, tmp: dir, cwd: dir });
    assert.equal(res.code, 0, res.stderr);
    return Number(res.stdout.trim());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('13.4: sub-limit bombs neither cost gigabytes nor block the event loop', () => {
  test('a deflated 5000x5000 16-bit DICOM with rescale decodes with less than 6 bytes of extra memory per pixel', async () => {
    // today's main: inflate + a joined copy + Uint16 stored values + Float64 modality values ≈ 13 bytes/pixel
    const mib = await childPeakMib(deflatedDicomBomb(5000), 5000);
    assert.ok(mib < (6 * 25e6) / 2 ** 20, `peak grew by ${mib.toFixed(0)} MiB for 25 megapixels`);
  });

  test('loadGreyImageOffThread gives the same image (or the same InputError) as loadGreyImage', { skip: skipNoShared }, async () => {
    const sources: ImageSource[] = [
      { bytes: readFixture('ts-jpeg2000-lossless-cr-monochrome1-10bit.dcm'), name: 'j2k.dcm' },
      { bytes: readFixture('ts-deflated-explicit-le-8bit.dcm'), name: 'deflated.dcm' },
      join(BAD_INPUTS_DIR, 'valid-16bit-gray.png'),
      join(BAD_INPUTS_DIR, 'valid-rgba.png'),
      join(BAD_INPUTS_DIR, 'reject-truncated.png'),
      { bytes: readFixture('bad-color-rgb.dcm'), name: 'rgb.dcm' },
      join(BAD_INPUTS_DIR, 'no-such-file.png'),
    ];
    for (const src of sources) {
      const here = await loadGreyImage(src).then((i) => i, (e: unknown) => e);
      const there = await loadGreyImageOffThread(src).then((i) => i, (e: unknown) => e);
      if (here instanceof InputError) {
        assert.ok(there instanceof InputError, `${String(src)}: ${String(there)}`);
        assert.equal(there.problem, here.problem);
        assert.equal(there.message, here.message);
        assert.equal(there.file, here.file);
      } else {
        assert.deepEqual(there, here);
      }
    }
  });

  test('while a 4000x4000 DICOM decodes off the thread, the event loop runs (a 1 ms timer fires first)', async () => {
    // uncompressed: decoding it on the calling thread has no await in which a timer could run
    const px = new Uint8Array(4000 * 4000 * 2);
    for (let i = 0; i < px.length; i += 2) px[i] = i & 0xff;
    const bytes = dicomFile({ rows: 4000, columns: 4000, pixels: px });
    const order: string[] = [];
    const timer = new Promise<void>((r) => setTimeout(() => { order.push('timer'); r(); }, 1));
    const img = await loadGreyImageOffThread({ bytes, name: 'big.dcm' }).then((i) => { order.push('decoded'); return i; });
    await timer;
    assert.equal(img.width, 4000);
    assert.deepEqual(order, ['timer', 'decoded']);
  });

  test('an abort stops a running off-thread decode at once, with the signal\'s reason', async () => {
    const pool = new DecodePool({ threads: 1 });
    try {
      const ac = new AbortController();
      const pending = pool.decode({ bytes: deflatedDicomBomb(6000), name: 'slow.dcm' }, {}, { signal: ac.signal });
      setTimeout(() => ac.abort(new Error('client went away')), 5);
      await assert.rejects(pending, /client went away/);
      // the pool still works afterwards
      const ok = await pool.decode({ bytes: dicomFile({ rows: 8, columns: 8, pixels: new Uint8Array(128) }), name: 'small.dcm' });
      assert.equal(ok.width, 8);
    } finally {
      await pool.close();
    }
  });
});

describe('13.14: one vocabulary', () => {
  test('a truncated PNG or JPEG is "truncated", naming its own format, in a concurrent batch (CLI path) and alone (API path)', async () => {
    const w = 300;
    const px = Buffer.alloc(w * w);
    for (let i = 0; i < px.length; i++) px[i] = (i * 31 + (i >> 7)) & 255;
    const raw = { raw: { width: w, height: w, channels: 1 as const } };
    const png = await sharp(px, raw).png().toBuffer();
    const jpg = await sharp(px, raw).jpeg().toBuffer();
    const files = [
      { name: 'cut.png', bytes: new Uint8Array(png.subarray(0, png.length >> 1)), format: 'PNG' },
      { name: 'cut.jpg', bytes: new Uint8Array(jpg.subarray(0, jpg.length >> 1)), format: 'JPEG' },
      { name: 'good.png', bytes: new Uint8Array(png), format: '' },
    ];
    const cli = async (f: (typeof files)[number]): Promise<unknown> => probeImage(f).then((p) => resizeAndCropProbed(p, IMAGENET_224)).then(() => null, (e: unknown) => e);
    const api = async (f: (typeof files)[number]): Promise<unknown> => loadGreyImage(f).then(() => null, (e: unknown) => e);
    for (let round = 0; round < 4; round++) {
      const batch = Array.from({ length: 24 }, (_, i) => files[i % 3]);
      const results = await Promise.all(batch.map((f, i) => (i % 2 ? cli(f) : api(f))));
      results.forEach((r, i) => {
        const f = batch[i];
        if (!f.format) return assert.equal(r, null, `${f.name}: ${String(r)}`);
        assert.ok(r instanceof InputError, `${f.name}: ${String(r)}`);
        assert.equal(r.problem, 'truncated', `${f.name}: ${r.message}`);
        // its own format's problem, never another file's libvips message
        const other = f.format === 'PNG' ? /jpe?g/i : /png/i;
        assert.ok(r.message.startsWith(`${f.name}: `) && new RegExp(f.format === 'PNG' ? 'png' : 'jpe?g', 'i').test(r.message) && !other.test(r.message), r.message);
      });
    }
  });

  test('sizes are said in binary units, the same on the server and the page', () => {
    assert.equal(bytesText(50 * 2 ** 20), '50 MiB');
    assert.equal(bytesText(20_000), '20 KiB');
    assert.equal(bytesText(1536), '1.5 KiB');
    assert.equal(pageBytesText, bytesText);
  });

  test('no source file says MB, kB or GB (decimal units) anywhere', async () => {
    const { readdir, readFile } = await import('node:fs/promises');
    const walk = async (dir: string): Promise<string[]> => (await Promise.all((await readdir(dir, { withFileTypes: true })).map((d) =>
      d.isDirectory() ? walk(join(dir, d.name)) : Promise.resolve(d.name.endsWith('.ts') ? [join(dir, d.name)] : [])))).flat();
    const offenders: string[] = [];
    for (const f of await walk(join(projectRoot, 'src'))) {
      (await readFile(f, 'utf8')).split('\n').forEach((line, i) => { if (/\b(MB|kB|GB)\b/.test(line)) offenders.push(`${f}:${i + 1}: ${line.trim()}`); });
    }
    assert.deepEqual(offenders, []);
  });
});

describe('13.4: the server decodes off its event loop, under its own lower pixel limit', { skip: skipNoShared }, () => {
  test('default limit 25 megapixels (reported in /api/model); a 30-megapixel upload is refused; /healthz answers during a large decode', async () => {
    const model = await loadModelService((await tinyRun()).run);
    const app = await buildServer({ model });
    try {
      const card = (await app.inject({ method: 'GET', url: '/api/model' })).json() as { limits: { maxPixels: number } };
      assert.equal(card.limits.maxPixels, DEFAULT_SERVER_MAX_PIXELS);
      assert.equal(DEFAULT_SERVER_MAX_PIXELS, 25_000_000);
      const big = await sharp({ create: { width: 6000, height: 5000, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toBuffer();
      const refused = await app.inject({ method: 'POST', url: '/api/predict?name=big.png', headers: { 'content-type': 'application/octet-stream' }, payload: big });
      assert.equal(refused.statusCode, 413, refused.body);
      assert.match(refused.body, /30000000 pixels, over the limit of 25000000/);

      const px = new Uint8Array(3000 * 3000 * 2);
      for (let i = 0; i < px.length; i += 2) px[i] = (i >> 4) & 0xff;
      const dcm = dicomFile({ rows: 3000, columns: 3000, pixels: px });
      const order: string[] = [];
      const predict = app.inject({ method: 'POST', url: '/api/predict?name=big.dcm', headers: { 'content-type': 'application/dicom' }, payload: Buffer.from(dcm) })
        .then((r) => { order.push('predict'); return r; });
      await new Promise((r) => setTimeout(r, 20));
      const health = await app.inject({ method: 'GET', url: '/healthz' }).then((r) => { order.push('healthz'); return r; });
      const done = await predict;
      assert.equal(health.statusCode, 200);
      assert.equal(done.statusCode, 200, done.body);
      assert.equal((done.json() as { image: { width: number } }).image.width, 3000);
      assert.deepEqual(order, ['healthz', 'predict']);
    } finally {
      await app.close();
      await model.close();
    }
  });
});
