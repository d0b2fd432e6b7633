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
import { FeatureCache } from '../src/features/cache.js';
import { trainRun } from '../src/protocol/train-run.js';
import { makeTinyDataset, syntheticXray } from './helpers/tiny-dataset.js';
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
    work = await mkdtemp(join(tmpdir(), 'dc-hard-ort-'));
    const data = await makeTinyDataset({ train: [6, 8], test: [2, 2], perPatient: 1, manifest: true, seed: 13 });
    run = join(work, 'run');
    await trainRun({ data, out: run, config: { backbone: 'squeezenet1_1', epochs: 2, augmentFactor: 1 }, cache: new FeatureCache(join(work, 'cache')), quiet: true });
    await rm(data, { recursive: true, force: true });
    image = join(work, 'x.png');
    await writeFile(image, await syntheticXray(new Rng(1), true));
    cli = join(work, 'cli.mjs');
    await writeFile(cli, `import { main } from ${JSON.stringify(join(projectRoot, 'src', 'cli', 'main.ts'))};\nprocess.exitCode = await main(process.argv);\n`);
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
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
