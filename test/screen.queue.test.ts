import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { screen, runWorker } from '../src/screen/index.js';
import { predictFiles } from '../src/tasks/predict.js';
import { QueueError } from '../src/errors.js';
import { DEV_SET, skipNoShared } from './helpers/shared.js';
import { freePort, skipNoRedis, startRedis, type TestRedis } from './helpers/redis.js';
import { exited, killAndRerun, readRows, spawnCli, startCliWorker, trainTinyRun } from './helpers/screen-fixtures.js';

const skip = skipNoShared || skipNoRedis;
const TEST_SPLIT = join(DEV_SET, 'test');
// quick failure detection for tests: a dead worker's batch returns to the queue after ~5 s (not
// shorter: on a loaded machine a live worker may renew its lock late); one thread each, 3 share 2 cores
const WORKER_ARGS = ['--lock-duration', '5000', '--stalled-interval', '2000', '--threads', '1', '-q'];

let work: string;
let run: string;
let redis: TestRedis;
/** absolute path → P(COVID) from predict */
const reference = new Map<string, number>();
let all: string[] = [];
const workers: ChildProcess[] = [];

async function startWorker(): Promise<ChildProcess> {
  const child = await startCliWorker(['worker', '--queue', redis.url, '--run', run, ...WORKER_ARGS]);
  workers.push(child);
  return child;
}

/** A list file of the first n test images (absolute paths, one per line). */
async function listOf(n: number, name: string): Promise<string> {
  const path = join(work, name);
  await writeFile(path, all.slice(0, n).join('\n') + '\n');
  return path;
}

/** Every listed input has exactly one row, with predict's probability. */
async function assertComplete(out: string, inputs: string[], nameOf: (abs: string) => string = (a) => a): Promise<void> {
  const rows = await readRows(out);
  const names = rows.map((r) => String(r.file));
  assert.equal(new Set(names).size, names.length, 'no input has two rows');
  assert.deepEqual([...names].sort(), inputs.map(nameOf).sort(), 'every input has a row');
  const byName = new Map(inputs.map((abs) => [nameOf(abs), abs]));
  for (const r of rows) {
    assert.equal(r.decision === 'error' ? r.error : '', '', `${r.file} predicted`);
    assert.equal(Number(r.probability), reference.get(byName.get(String(r.file))!), `${r.file}: predict's probability exactly`);
  }
}

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'dc-screen-q-'));
  run = await trainTinyRun(join(work, 'run'));
  redis = await startRedis();
  for (const cls of ['covid', 'non']) for (const f of (await readdir(join(TEST_SPLIT, cls))).sort()) all.push(join(TEST_SPLIT, cls, f));
  // interleave the classes so any prefix holds both
  const covid = all.filter((f) => f.includes('/covid/'));
  const non = all.filter((f) => f.includes('/non/'));
  all = [];
  for (let i = 0; i < Math.max(covid.length, non.length); i++) all.push(...[covid[i], non[i]].filter(Boolean));
  // the gate off: a run trained on synthetic discs refuses every real X-ray
  const preds = await predictFiles({ run, files: all, cache: null, gate: false });
  preds.forEach((p, i) => { if ('probability' in p) reference.set(all[i], p.probability); });
  await Promise.all([startWorker(), startWorker(), startWorker()]);
});

after(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await Promise.all(workers.map(exited));
  await redis?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test('three worker processes screen the dev test split: one row per input, predict\'s probabilities exactly', { skip }, async () => {
  const out = join(work, 'all.csv');
  const res = await screen({ run, gate: false, input: TEST_SPLIT, out, queue: redis.url, queueOptions: { reconcileMs: 300 } });
  assert.equal(res.mode, 'queue');
  assert.equal(res.inputs, all.length);
  assert.equal(res.written, all.length);
  await assertComplete(out, all, (abs) => abs.slice(TEST_SPLIT.length + 1));
  // the same command again: nothing to do, nothing written, no job sent
  const again = await screen({ run, gate: false, input: TEST_SPLIT, out, queue: redis.url });
  assert.equal(again.written, 0);
  assert.equal(again.skipped, all.length);
});

test('kill -9 a worker mid-run: its batches go to the others; still exactly one row per input', { skip }, async () => {
  const input = await listOf(200, 'kill-worker.txt');
  const out = join(work, 'kill-worker.jsonl');
  let killed = false;
  const victim = workers[0];
  const res = await screen({
    run, gate: false, input, out, queue: redis.url, batchSize: 10, queueOptions: { reconcileMs: 300 },
    onProgress: (p) => {
      if (!killed && p.done >= 30) {
        killed = true;
        victim.kill('SIGKILL');
      }
    },
  });
  assert.ok(killed);
  assert.equal(await exited(victim), 'SIGKILL');
  assert.equal(res.written, 200);
  await assertComplete(out, all.slice(0, 200));
  workers[0] = await startWorker();
});

test('kill -9 the coordinator mid-run and start it again: it resumes, every input has exactly one row', { skip }, async () => {
  const input = await listOf(200, 'kill-coordinator.txt');
  const out = join(work, 'kill-coordinator.csv');
  const args = ['screen', '--queue', redis.url, '--run', run, '--input', input, '--out', out, '--batch', '10', '--no-gate', '-q'];
  const { atKill: rowsAtKill, stdout } = await killAndRerun(args, async () => (await readFile(out, 'utf8').catch(() => '')).split('\n').length - 2, 40);
  const m = /(\d+) new rows .*, (\d+) already done/.exec(stdout);
  assert.ok(m, stdout);
  assert.ok(Number(m[2]) >= rowsAtKill, `the restarted coordinator skipped the ${rowsAtKill}+ rows written before: ${stdout}`);
  assert.equal(Number(m[1]) + Number(m[2]), 200);
  await assertComplete(out, all.slice(0, 200));
});

test('Redis unreachable at start: a clear error naming the address, and no results file', { skip }, async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const out = join(work, 'never.csv');
  await assert.rejects(
    screen({ run, gate: false, input: await listOf(5, 'five.txt'), out, queue: url }),
    (err: unknown) => err instanceof QueueError && err.message.includes(`cannot reach Redis at ${url}`) && /ECONNREFUSED/.test(err.message),
  );
  assert.equal(await stat(out).catch(() => null), null);
  await assert.rejects(runWorker({ queue: url, run }), (err: unknown) => err instanceof QueueError && err.message.includes(url));
  let log = '';
  const cli = spawnCli(['worker', '--queue', url, '--run', run], (s) => { log += s; });
  assert.equal(await exited(cli), 1);
  assert.match(log, new RegExp(`error: cannot reach Redis at redis://127\\.0\\.0\\.1:${port}`));
});

test('Redis restarted mid-run (its data lost): the run rides it out and resumes; no corrupt or duplicate rows', { skip }, async () => {
  const input = await listOf(200, 'restart-redis.txt');
  const out = join(work, 'restart-redis.csv');
  const statuses: string[] = [];
  let restarted: Promise<void> | null = null;
  const res = await screen({
    run, gate: false, input, out, queue: redis.url, batchSize: 10, queueOptions: { reconcileMs: 300 },
    onStatus: (m) => statuses.push(m),
    onProgress: (p) => { if (!restarted && p.done >= 40) restarted = redis.restart(1500); },
  });
  await restarted;
  assert.ok(restarted, 'Redis was restarted during the run');
  assert.ok(statuses.some((s) => /unreachable/.test(s)), statuses.join('\n'));
  assert.ok(statuses.some((s) => /is back/.test(s)), statuses.join('\n'));
  assert.equal(res.written, 200);
  await assertComplete(out, all.slice(0, 200));
});

test('Redis down for longer than the coordinator waits: a clear error, rows kept intact, and the rerun finishes', { skip }, async () => {
  const input = await listOf(160, 'outage.txt');
  const out = join(work, 'outage.jsonl');
  let down: Promise<void> | null = null;
  await assert.rejects(
    screen({
      run, gate: false, input, out, queue: redis.url, batchSize: 10, queueOptions: { reconcileMs: 200, maxOutageMs: 1500 },
      onProgress: (p) => { if (!down && p.done >= 20) down = redis.kill(); },
    }),
    (err: unknown) => err instanceof QueueError && /unreachable for \d+ s: stopped.*run the same screening again/.test(err.message),
  );
  const partial = await readRows(out);
  assert.ok(partial.length >= 20 && partial.length < 160, `${partial.length} rows before the outage`);
  assert.equal(new Set(partial.map((r) => r.file)).size, partial.length);
  await redis.start();
  const res = await screen({ run, gate: false, input, out, queue: redis.url, batchSize: 10, queueOptions: { reconcileMs: 300 } });
  assert.equal(res.skipped, partial.length);
  await assertComplete(out, all.slice(0, 160));
});

test('a worker closes promptly after a Redis outage: with Redis still down, and after a restart that lost its data', { skip }, async () => {
  // before: close waited for Redis to come back (to send QUIT) and gave up only after its grace time
  const w = await runWorker({ queue: redis.url, run, runtime: { threads: 1 } });
  await redis.kill();
  assert.equal(await w.close(20_000), true, 'closed, not given up after the grace time');
  await redis.start();
  const again = await runWorker({ queue: redis.url, run, runtime: { threads: 1 } });
  await redis.restart(500);
  assert.equal(await again.close(20_000), true);
  // a CLI worker told to stop while Redis is down exits at once, cleanly
  let log = '';
  const cli = spawnCli(['worker', '--queue', redis.url, '--run', run, ...WORKER_ARGS], (s) => { log += s; });
  while (!log.includes('worker ready')) {
    assert.equal(cli.exitCode, null, log);
    await new Promise((r) => setTimeout(r, 50));
  }
  await redis.kill();
  cli.kill('SIGTERM');
  assert.equal(await exited(cli), 0, log);
  assert.doesNotMatch(log, /exiting anyway/);
  await redis.start();
});
