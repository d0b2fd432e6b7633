/**
 * Screening throughput: images/s of `predict` (one process, one extractFeatures pass), of
 * `screen` embedded (batches of 100, 2 in flight), and of `screen --queue` with 1 and 2 worker
 * processes on a local Redis; plus the queue's own cost: the idle gap a worker spends between
 * batches (completing one job, fetching the next) per image, against the per-image predict time,
 * and Redis commands and network bytes per image (from Redis INFO). The queue's overhead is given
 * as CPU time (the worker's CPU outside its batches against the CPU inside them), which waiting
 * for a core on a loaded machine does not inflate, and as the median idle gap between batches.
 * Usage: npx tsx bench/screen.ts [--run DIR] [--n 300] [--rounds 3] [--overhead-only] [--write]
 * --overhead-only skips the timed modes and measures only the queue's cost (printed, never written).
 * Without --run a tiny SqueezeNet run is trained on synthetic images (the cost is the backbone's).
 * Needs ../shared (dev images, models), /usr/bin/redis-server, and a built dist/ (npm run build).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { predictFiles } from '../src/tasks/predict.js';
import { trainRun } from '../src/protocol/train-run.js';
import { screen } from '../src/screen/index.js';
import { runWorker } from '../src/screen/queue/worker.js';
import { DEV_SHARED, PROJECT_ROOT } from '../src/util/paths.js';
import { env } from '../src/util/env.js';
import { startRedis, type TestRedis } from '../test/helpers/redis.js';
import { makeTinyDataset } from '../test/helpers/tiny-dataset.js';
import { writeBenchSection } from './markdown-section.js';
import { redisStats } from './redis-stats.js';

// the backbones of the development folder (../shared/models), as the CLI finds them
env.devModels = true;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const N = Number(arg('--n') ?? 300);
const OVERHEAD_ONLY = process.argv.includes('--overhead-only');
const ROUNDS = OVERHEAD_ONLY ? 0 : Number(arg('--rounds') ?? 3);
const DEV = join(DEV_SHARED, 'data', 'covidx5k-dev');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

async function devImages(n: number): Promise<string[]> {
  const all: string[] = [];
  for (const split of ['test', 'train']) for (const cls of ['covid', 'non']) {
    for (const f of (await readdir(join(DEV, split, cls))).sort()) all.push(join(DEV, split, cls, f));
  }
  const step = all.length / n;
  return Array.from({ length: Math.min(n, all.length) }, (_, i) => all[Math.floor(i * step)]);
}

function startWorkerProcess(redis: string, run: string, threads?: number): Promise<ChildProcess> {
  const args = [join(PROJECT_ROOT, 'bin', 'deep-covid.js'), 'worker', '--queue', redis, '--run', run, '-q', ...(threads ? ['--threads', String(threads)] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
      if (err.includes('worker ready')) resolve(child);
    });
    child.on('exit', (c) => reject(new Error(`worker exited with ${c}: ${err}`)));
  });
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map((c) => new Promise((r) => { c.removeAllListeners('exit'); c.once('exit', r); c.kill('SIGKILL'); })));
}

async function main() {
  const work = await mkdtemp(join(tmpdir(), 'dc-bench-screen-'));
  let redis: TestRedis | null = null;
  try {
    let run = arg('--run');
    if (!run) {
      const data = await makeTinyDataset({ train: [12, 16], test: [4, 4], perPatient: 2, manifest: true });
      run = join(work, 'run');
      await trainRun({ data, out: run, config: { backbone: 'squeezenet1_1', epochs: 4, augmentFactor: 1, seed: 5 }, cache: null });
      await rm(data, { recursive: true, force: true });
    }
    const files = await devImages(N);
    const list = join(work, 'list.txt');
    await writeFile(list, files.join('\n') + '\n');
    redis = await startRedis();
    const load0 = loadavg()[0];
    const t: Record<string, number[]> = { predict: [], embedded: [], queue1: [], queue2: [] };
    // CPU time of this process per image: all of predict's and embedded's work, only the coordinator's in queue mode
    const cpuMs: Record<string, number[]> = { predict: [], embedded: [], queue1: [], queue2: [] };
    const redisPerImage: { commands: number; bytes: number }[] = [];
    let k = 0;
    const fresh = () => join(work, `out-${k++}.csv`);
    const timed = async (label: string, work: () => Promise<unknown>) => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await work();
      t[label].push((performance.now() - t0) / 1000);
      const c = process.cpuUsage(c0);
      cpuMs[label].push((c.user + c.system) / 1000 / files.length);
    };
    for (let r = 0; r < ROUNDS; r++) {
      await timed('predict', () => predictFiles({ run: run!, files, cache: null }));
      await timed('embedded', () => screen({ run: run!, input: list, out: fresh() }));
      for (const [label, workers, threads] of [['queue1', 1, undefined], ['queue2', 2, 1]] as const) {
        const children = await Promise.all(Array.from({ length: workers }, () => startWorkerProcess(redis!.url, run!, threads)));
        const before = await redisStats(redis.url);
        await timed(label, () => screen({ run: run!, input: list, out: fresh(), queue: redis!.url, queueOptions: { reconcileMs: 1000 } }));
        const after = await redisStats(redis.url);
        redisPerImage.push({ commands: (after.commands - before.commands) / files.length, bytes: (after.bytes - before.bytes) / files.length });
        await stopAll(children);
      }
      console.error(`round ${r + 1}: ${Object.entries(t).map(([l, v]) => `${l} ${v.at(-1)!.toFixed(1)} s`).join(', ')}`);
    }

    // queue overhead: one worker in this process taking one batch at a time, the coordinator in
    // another process, so every gap between two batches is the worker's queue work (complete the
    // job, fetch the next) that nothing hides
    const batches: { end: number; ms: number; cpuMs: number; images: number }[] = [];
    const worker = await runWorker({ queue: redis.url, run, concurrency: 1, onEvent: (e) => { if (e.type === 'batch') batches.push({ end: performance.now(), ms: e.ms, cpuMs: e.cpuMs, images: e.images }); } });
    const workerCpu0 = process.cpuUsage();
    const coordinator = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'deep-covid.js'), 'screen', '--queue', redis.url, '--run', run, '--input', list, '--out', fresh(), '--no-gate', '-q'], { stdio: 'ignore' });
    const code = await new Promise((r) => coordinator.once('exit', r));
    if (code !== 0) throw new Error(`coordinator exited with ${code}`);
    const workerCpu = process.cpuUsage(workerCpu0);
    await worker.close();
    const workerCpuMs = (workerCpu.user + workerCpu.system) / 1000 / files.length;
    batches.sort((a, b) => a.end - b.end);
    // per batch after the first: the idle gap before it, per image (median: robust to load spikes)
    const gapsPerImage: number[] = [];
    for (let i = 1; i < batches.length; i++) gapsPerImage.push(Math.max(0, batches[i].end - batches[i].ms - batches[i - 1].end) / batches[i].images);
    const images = batches.reduce((s, b) => s + b.images, 0);
    const predictMsPerImage = median(batches.map((b) => b.ms / b.images));
    const gapMsPerImage = median(gapsPerImage);
    // CPU: everything the worker process spent outside its batches is the queue's (taking, completing, lock renewals)
    const batchCpuMs = batches.reduce((s, b) => s + b.cpuMs, 0);
    const queueCpuMsPerImage = Math.max(0, workerCpuMs * files.length - batchCpuMs) / images;
    const batchCpuMsPerImage = batchCpuMs / images;
    const load1 = loadavg()[0];
    const redisMed = { commands: median(redisPerImage.map((x) => x.commands)), bytes: median(redisPerImage.map((x) => x.bytes)) };

    const overhead = `Queue cost at batch 20, one worker in the timing process taking one batch at a time (${batches.length} batches), the coordinator in another process:
- **CPU**: the worker spent **${queueCpuMsPerImage.toFixed(2)} ms of CPU per image outside its batches** (taking a job, completing it, renewing locks, the client library), against **${batchCpuMsPerImage.toFixed(1)} ms per image inside them** (reading, decoding, the backbone, the head): **${(queueCpuMsPerImage / batchCpuMsPerImage * 100).toFixed(1)}%** of the per-image cost (target < 5%). CPU time does not grow while a process waits for a core, so this figure holds on a loaded machine.
- **Wall**: the median idle gap between two batches is **${gapMsPerImage.toFixed(2)} ms per image**, against a median of ${predictMsPerImage.toFixed(1)} ms of batch time per image: ${(gapMsPerImage / predictMsPerImage * 100).toFixed(1)}%. On a loaded machine much of a gap is waiting for a core; with 2 batches in flight (the default) a worker predicts one batch while the other's job is completed and the next fetched, which hides it.`;
    if (OVERHEAD_ONLY) {
      console.log(`${overhead}\nLoad average ${load0.toFixed(1)} at the start, ${load1.toFixed(1)} at the end; ${cpus().length} cores.`);
      return;
    }
    const rate = (label: string) => files.length / median(t[label]);
    const rows = [
      ['predict (one extractFeatures pass, no cache)', 'predict', 'all'],
      ['screen, embedded (batches of 100, 2 in flight)', 'embedded', 'all'],
      ['screen --queue, 1 worker (all cores)', 'queue1', 'coordinator only'],
      ['screen --queue, 2 workers (1 onnxruntime thread each)', 'queue2', 'coordinator only'],
    ].map(([name, key, what]) => `| ${name} | ${median(t[key]).toFixed(1)} | ${rate(key).toFixed(1)} | ${(rate(key) / rate('predict') * 100).toFixed(0)}% | ${median(cpuMs[key]).toFixed(1)} (${what}) |`);
    const body = `\`npx tsx bench/screen.ts --n ${N} --rounds ${ROUNDS}\`: ${files.length} dev-set PNGs (both splits, spaced over the sorted set), a SqueezeNet 1.1 run (ImageNet backbone, its 512x13x13 map into the trained conv head), no feature cache. Local Redis 7 (\`redis-server\`, loopback, no persistence); workers are \`deep-covid worker\` processes (2 batches in flight each) started before each timing, model loaded. Wall time from start to the last row; medians of ${ROUNDS} rounds, the modes run in turn within each round.

| mode | wall (s) | images/s | vs predict | CPU ms per image in the timing process |
|---|---:|---:|---:|---:|
${rows.join('\n')}

${overhead}
- Redis: **${redisMed.commands.toFixed(2)} commands** and **${redisMed.bytes.toFixed(0)} bytes** (in + out) per image (paths of ~${Math.round(files.reduce((s, f) => s + f.length, 0) / files.length)} characters, sha256s, results, the event stream)
- the coordinator (reading and hashing each file, enqueueing, collecting, appending rows): ${median([...cpuMs.queue1, ...cpuMs.queue2]).toFixed(2)} ms CPU per image

Conditions: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}; load average ${load0.toFixed(1)} at the start and ${load1.toFixed(1)} at the end${Math.max(load0, load1) > cpus().length ? ': **the machine was shared with other work**, so the absolute rates are low and noisy; compare the rows with each other (they ran in turn)' : ' (a quiet machine; the rows ran in turn)'}. Measured ${new Date().toISOString().slice(0, 10)}.`;
    console.log(body);
    if (process.argv.includes('--write')) await writeBenchSection('screen', 'Screening (`screen`, embedded and on a queue)', body);
  } finally {
    await redis?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
