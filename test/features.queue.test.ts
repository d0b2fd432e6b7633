// Feature extraction on queue workers (`features --queue`, `worker --backbone`) against a real
// Redis: the coordinator's cache must end up byte for byte what a local extraction writes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createAugmenter } from '../src/augment/index.js';
import { Backbone } from '../src/backbone/backbone.js';
import { FeatureCache } from '../src/features/cache.js';
import { extractFeatures, type FeatureRequest } from '../src/features/extract.js';
import { extractFeaturesOnQueue } from '../src/screen/queue/features.js';
import { trainRun } from '../src/protocol/train-run.js';
import type { ProgressEvent } from '../src/util/progress.js';
import { skipNoShared } from './helpers/shared.js';
import { skipNoRedis, startRedis, type TestRedis } from './helpers/redis.js';
import { copyInto, devImages, exited, killAndRerun, startCliWorker } from './helpers/screen-fixtures.js';

const skip = skipNoShared || skipNoRedis;
// a dead worker's batch returns to the queue after ~5 s; one onnxruntime thread each (2 cores shared)
const WORKER_ARGS = ['--backbone', 'squeezenet1_1', '--lock-duration', '5000', '--stalled-interval', '2000', '--threads', '1', '-q'];
const SEED = 3;

let work: string;
let redis: TestRedis;
let backbone: Backbone;
let requests: FeatureRequest[] = [];
let bad: string[] = [];
/** The local extraction's cache: relative path → bytes. */
let reference: Map<string, string>;
const workers: ChildProcess[] = [];

async function startWorker(): Promise<ChildProcess> {
  const child = await startCliWorker(['worker', '--queue', redis.url, ...WORKER_ARGS]);
  workers.push(child);
  return child;
}

/** Every file of a cache folder (entries and model labels), as relative path → bytes (base64). */
async function tree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else out.set(relative(dir, join(d, e.name)), (await readFile(join(d, e.name))).toString('base64'));
    }
  };
  await walk(dir);
  return out;
}

function assertSameCache(got: Map<string, string>): void {
  assert.deepEqual([...got.keys()].sort(), [...reference.keys()].sort(), 'the same entries');
  for (const [k, v] of reference) assert.ok(got.get(k) === v, `${k}: byte-equal entry`);
}

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'dc-features-q-'));
  redis = await startRedis();
  const images = await devImages(36);
  const covid = images.filter((f) => f.includes('/covid/'));
  // a truncated PNG and an empty file: reported, the rest finish
  const truncated = join(work, 'truncated.png');
  await writeFile(truncated, (await readFile(images[0])).subarray(0, 200));
  const empty = join(work, 'empty.png');
  await writeFile(empty, '');
  bad = [truncated, empty];
  requests = [
    ...images.map((file) => ({ file })),
    // augmented copies: the workers must make the same ones from the parameters they are sent
    ...covid.slice(0, 4).flatMap((file) => [1, 2].map((variant) => ({ file, variant }))),
    { file: truncated }, { file: empty },
  ];
  backbone = await Backbone.load('squeezenet1_1', { threads: 1 });
  const refDir = join(work, 'reference');
  const local = await extractFeatures(backbone, requests, { tensor: 'map', cache: new FeatureCache(refDir), augmenter: createAugmenter({}, SEED), collect: false });
  assert.equal(local.stats.failed, 2);
  reference = await tree(refDir);
  await Promise.all([startWorker(), startWorker()]);
});

after(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await Promise.all(workers.map(exited));
  await backbone?.release();
  await redis?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test('two worker processes fill the coordinator\'s cache with exactly the local extraction\'s entries; bad files are reported', { skip }, async () => {
  const dir = join(work, 'cache-a');
  const res = await extractFeaturesOnQueue(redis.url, backbone, requests, {
    tensor: 'map', cache: new FeatureCache(dir), augment: { seed: SEED }, batchSize: 8, queueOptions: { reconcileMs: 300 },
  });
  assert.equal(res.stats.computed, requests.length - 2);
  assert.equal(res.stats.failed, 2);
  assert.deepEqual(res.failures.map((f) => f.file).sort(), [...bad].sort());
  assert.deepEqual(res.failures.map((f) => f.problem).sort(), ['empty', 'truncated']);
  assertSameCache(await tree(dir));
  // again: everything is found in the cache, nothing is sent
  const again = await extractFeaturesOnQueue(redis.url, backbone, requests, { tensor: 'map', cache: new FeatureCache(dir), augment: { seed: SEED }, batchSize: 8 });
  assert.equal(again.stats.computed, 0);
  assert.equal(again.stats.fromCache, requests.length - 2);
});

test('kill -9 a worker mid-run: its batch is re-delivered and nothing is lost', { skip }, async () => {
  const dir = join(work, 'cache-b');
  const victim = workers[0];
  let killed = false;
  const res = await extractFeaturesOnQueue(redis.url, backbone, requests, {
    tensor: 'map', cache: new FeatureCache(dir), augment: { seed: SEED }, batchSize: 4, queueOptions: { reconcileMs: 300 },
    onProgress: (p: ProgressEvent) => {
      if (!killed && p.done >= 8) {
        killed = true;
        victim.kill('SIGKILL');
      }
    },
  });
  assert.ok(killed);
  assert.equal(await exited(victim), 'SIGKILL');
  assert.equal(res.stats.computed, requests.length - 2);
  assertSameCache(await tree(dir));
  workers[0] = await startWorker();
});

test('features --queue from the CLI: kill -9 the coordinator, rerun it, and train then finds every feature cached', { skip }, async () => {
  const data = join(work, 'data');
  const images = await devImages(24);
  await copyInto(images.filter((f) => f.includes('/covid/')), data, 'train/covid');
  await copyInto(images.filter((f) => f.includes('/non/')), data, 'train/non');
  const cache = join(work, 'cli-cache');
  const args = ['features', '--data', data, '--cache', cache, '--queue', redis.url, '--augment', '3', '--seed', String(SEED), '--batch', '4', '--threads', '1', '-q'];
  const { atKill, stdout } = await killAndRerun(args, async () => (await tree(join(cache, 'features')).catch(() => new Map())).size, 8);
  // 12 COVID images with 2 copies each, 12 others
  const m = /48 images and augmented copies: (\d+) computed, (\d+) from cache, 0 failed/.exec(stdout);
  assert.ok(m, stdout);
  assert.ok(Number(m[2]) >= atKill - 1, `the rerun found the ${atKill} entries (less the model label) cached: ${stdout}`);

  const events: ProgressEvent[] = [];
  await trainRun({
    data, out: join(work, 'run'), cache: new FeatureCache(join(cache, 'features')), onProgress: (e) => events.push(e),
    config: { backbone: 'squeezenet1_1', epochs: 2, augmentFactor: 3, seed: SEED },
  });
  const last = (label: RegExp) => events.filter((e) => label.test(e.label)).at(-1);
  for (const label of [/train features/, /validation features/]) {
    const e = last(label);
    assert.ok(e && e.done > 0, `${label}: progress seen`);
    assert.equal(e.fromCache, e.done, `${label}: every feature came from the cache`);
  }
});
