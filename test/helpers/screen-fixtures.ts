// Fixtures for screening tests: a quickly trained run, dev-set image folders, results parsing.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { trainRun } from '../../src/protocol/train-run.js';
import { parseCsv } from '../../src/util/csv.js';
import { makeTinyDataset } from './tiny-dataset.js';
import { DEV_SET, projectRoot } from './shared.js';

/** Trains a small SqueezeNet run on synthetic images (a few seconds): a real run folder to screen with. */
export async function trainTinyRun(out: string): Promise<string> {
  const data = await makeTinyDataset({ train: [12, 16], test: [4, 4], perPatient: 2, manifest: true });
  await trainRun({ data, out, config: { backbone: 'squeezenet1_1', epochs: 4, augmentFactor: 1, seed: 5 }, cache: null });
  return out;
}

/** The first `n` images of the dev set's test split (sorted by name, COVID and non-COVID interleaved), as absolute paths. */
export async function devImages(n: number): Promise<string[]> {
  const covid = (await readdir(join(DEV_SET, 'test', 'covid'))).sort().map((f) => join(DEV_SET, 'test', 'covid', f));
  const non = (await readdir(join(DEV_SET, 'test', 'non'))).sort().map((f) => join(DEV_SET, 'test', 'non', f));
  const out: string[] = [];
  for (let i = 0; out.length < n && (i < covid.length || i < non.length); i++) {
    if (i < covid.length) out.push(covid[i]);
    if (i < non.length && out.length < n) out.push(non[i]);
  }
  return out;
}

/** Copies files into `dir/<sub>/` and returns the copies' paths. */
export async function copyInto(files: string[], dir: string, sub: string): Promise<string[]> {
  await mkdir(join(dir, sub), { recursive: true });
  return Promise.all(files.map(async (f) => {
    const to = join(dir, sub, f.split('/').pop()!);
    await copyFile(f, to);
    return to;
  }));
}

/** Rows of a results file (CSV or JSON lines), as plain records. */
export async function readRows(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, 'utf8');
  if (path.endsWith('.csv')) return parseCsv(text);
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Starts the built CLI (`bin/deep-covid.js`, compiled by npm ci / npm run build) with the given arguments. */
export function spawnCli(args: string[], onStderr?: (text: string) => void): ChildProcess {
  const child = spawn(process.execPath, [join(projectRoot, 'bin', 'deep-covid.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.resume();
  child.stderr!.on('data', (d: Buffer) => onStderr?.(d.toString()));
  return child;
}

/** Resolves with the exit code (or signal name) of a child process. */
export function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
}

/** Starts `deep-covid` with `args` (a worker) and resolves once it says it is ready. */
export async function startCliWorker(args: string[]): Promise<ChildProcess> {
  let log = '';
  const child = spawnCli(args, (s) => { log += s; });
  const t0 = Date.now();
  while (!log.includes('worker ready')) {
    if (child.exitCode !== null) throw new Error(`worker exited: ${log}`);
    if (Date.now() - t0 > 60_000) throw new Error(`worker not ready after 60 s: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

/**
 * Runs the CLI with `args`, kills it (kill -9) once `progress()` reaches `atLeast`, then runs the
 * same command again to its end (exit code 0). Returns the progress seen at the kill and the
 * second run's stdout.
 */
export async function killAndRerun(args: string[], progress: () => Promise<number>, atLeast: number): Promise<{ atKill: number; stdout: string }> {
  let log = '';
  const first = spawnCli(args, (s) => { log += s; });
  const t0 = Date.now();
  let atKill = 0;
  while ((atKill = await progress()) < atLeast) {
    assert.equal(first.exitCode, null, `the command ended before it could be killed: ${log}`);
    assert.ok(Date.now() - t0 < 120_000, 'the command made no progress');
    await new Promise((r) => setTimeout(r, 25));
  }
  first.kill('SIGKILL');
  await exited(first);
  let stdout = '';
  const second = spawnCli(args, (s) => { log += s; });
  second.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  assert.equal(await exited(second), 0, log);
  return { atKill, stdout };
}
