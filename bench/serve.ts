/**
 * Load test of `deep-covid serve`: spawns the server on 127.0.0.1 (any free port), fires N
 * concurrent uploads of dev-set X-rays at once (a fixed number: the loop ends by itself), and
 * reports how many got 200 or 503, p50/p95 latency, the server's peak RSS and whether it still
 * answers afterwards. Two settings: the default queue (4 waiting), where most of a burst of 50 is
 * refused at once with 503 + Retry-After, and a queue long enough to take the whole burst.
 *
 * Then the slow-upload flood (issue 13): `--clients` (60) clients each upload a `--mib` (50) MiB
 * body (a dev-set PNG padded with zeros) at a fixed rate per connection (`--rates`, MB/s), over
 * raw loopback sockets, retrying after Retry-After when refused, until `--seconds` (60) have
 * passed; meanwhile /healthz is asked every 100 ms and the server's RSS read every 100 ms.
 * Usage: npx tsx bench/serve.ts [--run DIR] [--n 50] [--flood-only] [--clients 60] [--mib 50] [--rates 4,8] [--seconds 60]
 * Without --run a tiny run is trained on synthetic images (the timing is the backbone's, not the head's).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { connect } from 'node:net';
import { readFile, readdir, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import { FeatureCache } from '../src/features/cache.js';
import { trainRun } from '../src/protocol/train-run.js';
import { DEV_SHARED, PROJECT_ROOT } from '../src/util/paths.js';
import { makeTinyDataset } from '../test/helpers/tiny-dataset.js';
import { writeBenchSection } from './markdown-section.js';
import { env } from '../src/util/env.js';

// benchmarks use the backbones in ../shared/models beside the checkout
env.devModels = true;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const N = Number(arg('--n') ?? 50);
const DEV = join(DEV_SHARED, 'data', 'covidx5k-dev', 'test');

interface Outcome { status: number; ms: number }

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Peak and current RSS of a process, from /proc (Linux), in MB. */
async function rssOf(pid: number): Promise<{ peak: number; now: number }> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { peak: kb('VmHWM') / 1024, now: kb('VmRSS') / 1024 };
}

/** Starts `deep-covid serve` through tsx and resolves with its URL. */
function startServer(run: string, queue: number | null): Promise<{ child: ChildProcess; url: string }> {
  const code = "import('./src/cli/main.ts').then(async (m) => { process.exitCode = await m.main(['node', 'deep-covid', ...process.argv.slice(1)]); })";
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', code, 'serve', '--run', run, '--port', '0', ...(queue === null ? [] : ['--queue', String(queue)])], {
    cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in 60 s: ${err}`)), 60_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /at (http:\/\/\S+\/)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, url: m[1] }); }
    });
    child.stderr!.on('data', (d) => { err += d; });
    child.on('exit', (c) => { clearTimeout(timer); reject(new Error(`server exited with ${c}: ${err}`)); });
  });
}

async function burst(url: string, images: { name: string; bytes: Buffer }[]): Promise<Outcome[]> {
  return Promise.all(Array.from({ length: N }, async (_, i) => {
    const img = images[i % images.length];
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(img.bytes)]), img.name);
    const t0 = performance.now();
    try {
      const res = await fetch(`${url}api/predict`, { method: 'POST', body: form, signal: AbortSignal.timeout(300_000) });
      await res.arrayBuffer();
      return { status: res.status, ms: performance.now() - t0 };
    } catch {
      return { status: 0, ms: performance.now() - t0 };
    }
  }));
}

async function scenario(run: string, queue: number, images: { name: string; bytes: Buffer }[]) {
  const { child, url } = await startServer(run, queue);
  try {
    // one warm-up request, so the burst measures the steady state
    await burst(url, images.slice(0, 1)).catch(() => null);
    const idle = await rssOf(child.pid!);
    const t0 = performance.now();
    const outcomes = await burst(url, images);
    const wall = performance.now() - t0;
    const mem = await rssOf(child.pid!);
    const health = await fetch(`${url}healthz`).then((r) => r.status, () => 0);
    const ok = outcomes.filter((o) => o.status === 200).map((o) => o.ms).sort((a, b) => a - b);
    const busy = outcomes.filter((o) => o.status === 503).map((o) => o.ms).sort((a, b) => a - b);
    const other = outcomes.filter((o) => o.status !== 200 && o.status !== 503).length;
    return { queue, ok, busy, other, wall, idle, mem, alive: health === 200 && child.exitCode === null };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}


// ---- the slow-upload flood ----

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One upload over a raw loopback socket at `bytesPerSecond`; stops sending once the server answers. */
function rateLimitedUpload(port: number, body: Buffer, bytesPerSecond: number, deadline: number): Promise<{ status: number | 'reset' | 'deadline'; retryAfter: number; ms: number; sent: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = connect({ host: '127.0.0.1', port });
    let sent = 0;
    let head = '';
    let answered = false;
    let done = false;
    const tickMs = 20;
    const perTick = Math.max(1, Math.round((bytesPerSecond * tickMs) / 1000));
    let timer: NodeJS.Timeout | undefined;
    const finish = (status: number | 'reset' | 'deadline', retryAfter = 0) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ status, retryAfter, ms: performance.now() - t0, sent });
    };
    const pump = () => {
      if (answered || done) return;
      if (Date.now() > deadline) return finish('deadline');
      if (sent >= body.length) return;
      const n = Math.min(perTick, body.length - sent);
      const ok = socket.write(body.subarray(sent, sent + n));
      sent += n;
      // the server's receive window is full: wait for it rather than queue bytes in this process
      if (!ok) socket.once('drain', () => { timer = setTimeout(pump, tickMs); });
      else timer = setTimeout(pump, tickMs);
    };
    socket.on('connect', () => {
      socket.write(`POST /api/predict?name=flood.png HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
      pump();
    });
    socket.on('data', (d) => {
      head += d.toString('latin1');
      if (!answered && head.includes('\r\n\r\n')) {
        answered = true;
        const status = Number(head.split(' ')[1]);
        const retry = Number(/\r\nretry-after:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        finish(status, retry);
      }
    });
    socket.on('error', () => finish(answered ? 0 : 'reset'));
    socket.on('close', () => finish(answered ? 0 : 'reset'));
  });
}

/** One flood client: uploads, waits Retry-After when refused, tries again until answered or the deadline. */
async function floodClient(port: number, body: Buffer, rate: number, deadline: number, log: (s: number | string, ms: number, sent: number) => void): Promise<void> {
  while (Date.now() < deadline) {
    const r = await rateLimitedUpload(port, body, rate, deadline);
    log(r.status, r.ms, r.sent);
    if (r.status === 503) await sleep(Math.max(1, Math.min(r.retryAfter, 10)) * 1000);
    else if (r.status === 'reset') await sleep(1000);
    else return;
  }
}

/** /healthz latency every 100 ms (one at a time, 5 s timeout) until stopped. */
function watchHealth(port: number, stop: { stopped: boolean }): Promise<{ ms: number[]; failures: number }> {
  const ms: number[] = [];
  let failures = 0;
  const once = () => new Promise<void>((resolve) => {
    const t0 = performance.now();
    const req = get({ host: '127.0.0.1', port, path: '/healthz', timeout: 5000, agent: false }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) ms.push(performance.now() - t0);
        else failures++;
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => { failures++; resolve(); });
  });
  return (async () => {
    while (!stop.stopped) {
      const t0 = performance.now();
      await once();
      await sleep(Math.max(0, 100 - (performance.now() - t0)));
    }
    return { ms, failures };
  })();
}

async function floodScenario(run: string, rateMBs: number, clients: number, body: Buffer, seconds: number) {
  const { child, url } = await startServer(run, null);
  const port = Number(new URL(url).port);
  try {
    const idle = await rssOf(child.pid!);
    // the machine's own noise: /healthz of the idle server for 10 s before the flood
    const quiet = { stopped: false };
    const baseline = watchHealth(port, quiet);
    await sleep(10_000);
    quiet.stopped = true;
    const base = await baseline;
    const stop = { stopped: false };
    const rss: number[] = [];
    const rssTimer = setInterval(() => { rssOf(child.pid!).then((m) => rss.push(m.now), () => {}); }, 100);
    const health = watchHealth(port, stop);
    const outcomes = new Map<string, number>();
    const refusedMs: number[] = [];
    const refusedSent: number[] = [];
    const deadline = Date.now() + seconds * 1000;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: clients }, () => floodClient(port, body, rateMBs * 1e6, deadline, (status, ms, sent) => {
      outcomes.set(String(status), (outcomes.get(String(status)) ?? 0) + 1);
      if (status === 503) { refusedMs.push(ms); refusedSent.push(sent); }
    })));
    const wall = performance.now() - t0;
    stop.stopped = true;
    const h = await health;
    clearInterval(rssTimer);
    const mem = await rssOf(child.pid!);
    return { rateMBs, clients, idle, mem, rssMax: Math.max(...rss), outcomes, refusedMs: refusedMs.sort((a, b) => a - b), refusedSent: refusedSent.sort((a, b) => a - b), health: { ms: h.ms.sort((a, b) => a - b), failures: h.failures }, idleHealth: base.ms.sort((a, b) => a - b), wall, alive: child.exitCode === null };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

async function main(): Promise<void> {
  let run = arg('--run');
  let temp: string | null = null;
  if (!run) {
    temp = await mkdtemp(join(tmpdir(), 'dc-bench-serve-'));
    const data = await makeTinyDataset({ train: [12, 16], test: [6, 6], perPatient: 2, manifest: true });
    run = join(temp, 'run');
    await trainRun({ data, out: run, config: { backbone: 'squeezenet1_1', epochs: 6, augmentFactor: 2, seed: 5 }, cache: new FeatureCache(join(temp, 'cache')) });
    await rm(data, { recursive: true, force: true });
  }
  const names = [...(await readdir(join(DEV, 'covid'))).slice(0, 5).map((f) => join('covid', f)), ...(await readdir(join(DEV, 'non'))).slice(0, 5).map((f) => join('non', f))];
  const images = await Promise.all(names.map(async (n) => ({ name: n.split('/').pop()!, bytes: await readFile(join(DEV, n)) })));
  const meanKb = images.reduce((s, i) => s + i.bytes.length, 0) / images.length / 1024;
  if (!process.argv.includes('--flood-only')) await burstSection(run, images, meanKb);
  await floodSection(run, images[0]);
  if (temp) await rm(temp, { recursive: true, force: true });
}

async function floodSection(run: string, image: { name: string; bytes: Buffer }): Promise<void> {
  const clients = Number(arg('--clients') ?? 60);
  const mib = Number(arg('--mib') ?? 50);
  const seconds = Number(arg('--seconds') ?? 60);
  const rates = (arg('--rates') ?? '4,8').split(',').map(Number);
  const body = Buffer.concat([image.bytes, Buffer.alloc(mib * 1024 * 1024 - image.bytes.length)]);
  const rows: string[] = [];
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '–');
  const loadBefore = loadavg()[0];
  for (const rate of rates) {
    const r = await floodScenario(run, rate, clients, body, seconds);
    const count = (k: string) => r.outcomes.get(k) ?? 0;
    const others = [...r.outcomes].filter(([k]) => !['200', '503', 'deadline'].includes(k)).map(([k, v]) => `${k}: ${v}`).join(', ') || '0';
    const hq = r.health.ms;
    const hi = r.idleHealth;
    const line = `| ${rate} | ${clients} x ${mib} MiB | ${count('200')} | ${count('503')} | ${f(quantile(r.refusedMs, 0.5))} / ${f(quantile(r.refusedMs, 0.95))} | ${f(quantile(r.refusedSent, 0.95) / 1024)} | ${count('deadline')} | ${others} | ${r.idle.now.toFixed(0)} → ${r.mem.peak.toFixed(0)} | ${hq.length} / ${r.health.failures} | ${quantile(hq, 0.5).toFixed(1)} / ${quantile(hq, 0.99).toFixed(1)} / ${hq.length ? hq[hq.length - 1].toFixed(1) : '–'} | ${quantile(hi, 0.5).toFixed(1)} / ${quantile(hi, 0.99).toFixed(1)} / ${hi.length ? hi[hi.length - 1].toFixed(1) : '–'} | ${(r.wall / 1000).toFixed(0)} | ${r.alive ? 'yes' : 'NO'} |`;
    console.log(line);
    rows.push(line);
  }
  const body2 = [
    `\`npx tsx bench/serve.ts --flood-only\`: ${clients} clients at once, each uploading a ${mib} MiB body (a dev-set PNG padded with zeros, so admitted uploads are decoded and predicted) ` +
      'as the raw request body over its own loopback socket at a fixed rate, to `deep-covid serve` with its defaults (50 MiB upload limit, 1 inference at a time, queue 4, byte budget 4 x 50 MiB). ' +
      `A refused client waits Retry-After and tries again, until ${seconds} s have passed (uploads still running then are cut: "cut"). ` +
      '/healthz is asked every 100 ms throughout (one request at a time, 5 s timeout); RSS is the server process\'s resident set, after start → peak (VmHWM).',
    '',
    '| MB/s per upload | flood | 200 | 503 | 503 after (ms) p50 / p95 | body KiB sent when refused, p95 | cut | other | RSS MB idle → peak | /healthz answers / failures | /healthz ms p50 / p99 / max | same, idle server before the flood | wall (s) | alive after |',
    '|---:|---|---:|---:|---|---:|---:|---|---|---|---|---|---:|---|',
    ...rows,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} on the development machine: 2 cores shared with other helpers' builds and tests (load average ${loadBefore.toFixed(0)} before, ${loadavg()[0].toFixed(0)} after) ` +
      'and with this load generator itself, so latencies include waiting for a core; the idle column is the floor this sets. ' +
      'Before admission control (issue 13) the same flood at 4 MB/s buffered 1.23 GB before 19 uploads got 503, and at 8 MB/s /healthz did not answer within 30 s.',
  ].join('\n');
  await writeBenchSection('serve-flood', 'Web server under a slow-upload flood', body2);
}

async function burstSection(run: string, images: { name: string; bytes: Buffer }[], meanKb: number): Promise<void> {
  const rows: string[] = [];
  for (const queue of [4, N]) {
    const r = await scenario(run, queue, images);
    const f = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '–');
    const line = `| ${queue} | ${r.ok.length} | ${r.busy.length} | ${r.other} | ${f(quantile(r.ok, 0.5))} / ${f(quantile(r.ok, 0.95))} | ${f(quantile(r.busy, 0.5))} / ${f(quantile(r.busy, 0.95))} | ${(r.wall / 1000).toFixed(1)} | ${r.idle.now.toFixed(0)} → ${r.mem.peak.toFixed(0)} | ${r.alive ? 'yes' : 'NO'} |`;
    console.log(line);
    rows.push(line);
  }
  const body = [
    `\`npx tsx bench/serve.ts${arg('--run') ? ' --run RUN' : ''}\`: ${N} uploads sent at once over loopback to \`deep-covid serve\` (1 inference at a time, CAM included, no occlusion), ` +
      `${images.length} dev-set PNGs in turn (mean ${meanKb.toFixed(0)} kB), squeezenet1_1. Latency is per request, from send to the full answer. ` +
      'Memory is the server process\'s resident set: after start and one warm-up request → peak (VmHWM) over the run.',
    '',
    '| queue length | 200 | 503 | other | latency 200 p50 / p95 (ms) | latency 503 p50 / p95 (ms) | wall (s) | RSS MB idle → peak | alive after |',
    '|---:|---:|---:|---:|---|---|---:|---|---|',
    ...rows,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} on the development machine (2 shared cores; other work running).`,
  ].join('\n');
  await writeBenchSection('serve', 'Web server under load', body);
}

await main();
