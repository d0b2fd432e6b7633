/**
 * Feature extraction on a queue (`features --queue`, `worker --backbone`): per image, the CPU time
 * of a worker (inside its batches and outside them: the queue's share), of the coordinator
 * (reading, hashing, collecting, writing the cache), and of a local `extractFeatures` for
 * comparison; Redis commands and bytes (in + out) per image, for SqueezeNet's 512x13x13 maps and
 * its 512-float pooled vectors. CPU times hold on a loaded machine; the wall-clock rate does not.
 * Usage: npx tsx bench/features-queue.ts [--n 200] [--write]
 * Needs ../shared (dev images, models), /usr/bin/redis-server and a built dist/ (npm run build).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backbone } from '../src/backbone/backbone.js';
import { encodeEntry } from '../src/features/cache.js';
import { extractFeatures } from '../src/features/extract.js';
import { runFeatureWorker } from '../src/screen/queue/feature-worker.js';
import { env } from '../src/util/env.js';
import { PROJECT_ROOT } from '../src/util/paths.js';
import { startRedis, type TestRedis } from '../test/helpers/redis.js';
import { copyInto, devImages } from '../test/helpers/screen-fixtures.js';
import { writeBenchSection } from './markdown-section.js';
import { redisStats } from './redis-stats.js';

env.devModels = true;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const N = Number(arg('--n') ?? 200);

const cpuMsOf = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;

/** CPU time of this process's finished (reaped) child processes, in ms (Linux: /proc/self/stat). */
function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /, '').split(' ');
  // after the command name: cutime and cstime are fields 16 and 17 of stat, here 13 and 14, in clock ticks (100 per second)
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

async function main() {
  const work = await mkdtemp(join(tmpdir(), 'dc-bench-fq-'));
  let redis: TestRedis | null = null;
  try {
    const images = await devImages(N);
    const data = join(work, 'data');
    await copyInto(images.filter((f) => f.includes('/covid/')), data, 'train/covid');
    await copyInto(images.filter((f) => f.includes('/non/')), data, 'train/non');
    redis = await startRedis();
    const load0 = loadavg()[0];
    const rows: string[] = [];
    const backbone = await Backbone.load('squeezenet1_1');
    for (const tensor of ['map', 'pooled'] as const) {
      // local: one extractFeatures pass, no cache
      let c0 = process.cpuUsage();
      await extractFeatures(backbone, images.map((file) => ({ file })), { tensor, cache: null, collect: false });
      const localMs = cpuMsOf(process.cpuUsage(c0)) / images.length;

      // the queue: one worker in this process (one batch at a time, so its batches' CPU does not overlap), the coordinator a CLI process
      let batchCpu = 0;
      let batchImages = 0;
      const worker = await runFeatureWorker({ queue: redis.url, backbone: 'squeezenet1_1', concurrency: 1, onEvent: (e) => { if (e.type === 'batch') { batchCpu += e.cpuMs; batchImages += e.images; } } });
      const before = await redisStats(redis.url);
      const children0 = childrenCpuMs();
      c0 = process.cpuUsage();
      const t0 = performance.now();
      const args = [join(PROJECT_ROOT, 'bin', 'deep-covid.js'), 'features', '--data', data, '--cache', join(work, `cache-${tensor}`), '--tensor', tensor, '--queue', redis.url, '-q'];
      const coordinator = spawn(process.execPath, args, { stdio: 'ignore' });
      const code = await new Promise((r) => coordinator.once('exit', r));
      if (code !== 0) throw new Error(`coordinator exited with ${code}`);
      const wall = (performance.now() - t0) / 1000;
      const workerMs = cpuMsOf(process.cpuUsage(c0));
      const coordinatorMs = (childrenCpuMs() - children0) / images.length;
      const after = await redisStats(redis.url);
      // the same command again, everything cached: its start, reading, hashing and cache look-ups alone
      const children1 = childrenCpuMs();
      const again = spawn(process.execPath, args, { stdio: 'ignore' });
      if ((await new Promise((r) => again.once('exit', r))) !== 0) throw new Error('the rerun failed');
      const rerunMs = (childrenCpuMs() - children1) / images.length;
      await worker.close();
      const inside = batchCpu / batchImages;
      const outside = Math.max(0, workerMs - batchCpu) / batchImages;
      const perImage = { commands: (after.commands - before.commands) / images.length, bytes: (after.bytes - before.bytes) / images.length };
      rows.push(`| ${tensor === 'map' ? 'map 512x13x13' : 'pooled 512'} | ${localMs.toFixed(1)} | ${inside.toFixed(1)} | ${outside.toFixed(2)} (${(outside / inside * 100).toFixed(1)}%) | ${coordinatorMs.toFixed(1)} (rerun, all cached: ${rerunMs.toFixed(1)}) | ${perImage.commands.toFixed(1)} | ${(perImage.bytes / 1024).toFixed(1)} kB | ${(images.length / wall).toFixed(1)} |`);
      console.error(rows.at(-1));
    }
    await backbone.release();
    const load1 = loadavg()[0];
    const body = `\`npx tsx bench/features-queue.ts --n ${N}\`: ${images.length} dev-set PNGs, SqueezeNet 1.1 (ImageNet weights), no augmentation, batches of 20. One \`runFeatureWorker\` in the timing process taking one batch at a time; the coordinator is \`deep-covid features --queue\` in another process (its CPU from the kernel's accounting of finished children); local Redis 7 on loopback. CPU milliseconds per image (user + system, all threads):

| features | local \`extractFeatures\` | worker, inside batches | worker, outside batches (the queue) | coordinator (with its start and loading the backbone once) | Redis commands per image | Redis bytes per image (in + out) | images/s (wall, 1 worker) |
|---|---:|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

A cache entry is ${encodeEntry(new Float32Array(512 * 13 * 13), [512, 13, 13]).length} bytes for a map and ${encodeEntry(new Float32Array(512), [512]).length} for a pooled vector (floats, .npy header, checksum); each image's entry crosses the network twice (worker → Redis, Redis → coordinator), plus the job (path, sha256), its small JSON result and the event stream.

Conditions: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}; load average ${load0.toFixed(1)} at the start and ${load1.toFixed(1)} at the end. CPU times hold under load; the wall-clock rate does not. Measured ${new Date().toISOString().slice(0, 10)}.`;
    console.log(body);
    if (process.argv.includes('--write')) await writeBenchSection('features-queue', 'Feature extraction on a queue (`features --queue`)', body);
  } finally {
    await redis?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
