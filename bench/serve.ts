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
 * Inside the server, bench/loop-probe.mjs measures the event loop's delay and utilisation and V8's
 * garbage-collection pauses during the flood (evidence that does not depend on how loaded the
 * client side is).
 *
 * Then the codestream bomb (issue 13 item 1): a small DICOM whose header says 16x16 but whose
 * JPEG 2000 codestream says 12000x12000, sent `--bombs` (20) times, 4 at once, while /healthz is
 * polled: each must be refused quickly, with /healthz fine and RSS bounded.
 * Usage: npx tsx bench/serve.ts [--run DIR] [--n 50] [--flood-only | --codestream-only] [--clients 60] [--mib 50] [--rates 4,8] [--seconds 60] [--bombs 20]
 * Without --run a tiny run is trained on synthetic images (the timing is the backbone's, not the head's).
 * The server runs from the build (dist/, brought up to date first with `npm run build`), as `deep-covid serve` does for users.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
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
import { dicomFile, encodeCodestream, TS } from '../test/helpers/hostile-images.js';
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

/**
 * Brings the build (dist/) up to date with the sources: the server is measured as users run it,
 * `node bin/deep-covid.js serve` on the compiled code. (Under tsx, which compiles TypeScript in
 * the process and again in every worker thread, the same server holds about 120 MB more.)
 */
function buildOnce(): void {
  if (built) return;
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  built = true;
}
let built = false;

/** Starts `deep-covid serve` from the build, with the loop probe inside, and resolves with its URL. */
function startServer(run: string, queue: number | null): Promise<{ child: ChildProcess; url: string }> {
  buildOnce();
  const child = spawn(process.execPath, ['--import', './bench/loop-probe.mjs', 'bin/deep-covid.js', 'serve', '--run', run, '--port', '0', ...(queue === null ? [] : ['--queue', String(queue)])], {
    cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
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

/** What bench/loop-probe.mjs measured inside the server since the last reset. */
interface LoopStats {
  delayMs: { p50: number; p99: number; max: number };
  utilisation: number;
  gc: Record<string, { count: number; totalMs: number; maxMs: number }>;
}

function probeReset(child: ChildProcess): void {
  child.send({ probe: 'reset' });
}

function probeReport(child: ChildProcess): Promise<LoopStats> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server\'s loop probe did not answer')), 10_000);
    const on = (m: { probe?: string } & LoopStats) => {
      if (m?.probe !== 'stats') return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
    child.send({ probe: 'report' });
  });
}

/** The probe's figures as table cells: loop delay p99 / max, loop busy %, GC pause max (mark-compact / scavenge). */
function loopCells(l: LoopStats): string {
  const gcMax = (k: string) => (l.gc[k] ? l.gc[k].maxMs.toFixed(1) : '–');
  const gcCount = (k: string) => l.gc[k]?.count ?? 0;
  return `${l.delayMs.p99.toFixed(1)} / ${l.delayMs.max.toFixed(1)} | ${(l.utilisation * 100).toFixed(0)} | ${gcMax('mark-compact')} (${gcCount('mark-compact')}) / ${gcMax('scavenge')} (${gcCount('scavenge')})`;
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
    probeReset(child);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: clients }, () => floodClient(port, body, rateMBs * 1e6, deadline, (status, ms, sent) => {
      outcomes.set(String(status), (outcomes.get(String(status)) ?? 0) + 1);
      if (status === 503) { refusedMs.push(ms); refusedSent.push(sent); }
    })));
    const wall = performance.now() - t0;
    const loop = await probeReport(child);
    stop.stopped = true;
    const h = await health;
    clearInterval(rssTimer);
    const mem = await rssOf(child.pid!);
    return { loop, rateMBs, clients, idle, mem, rssMax: Math.max(...rss), outcomes, refusedMs: refusedMs.sort((a, b) => a - b), refusedSent: refusedSent.sort((a, b) => a - b), health: { ms: h.ms.sort((a, b) => a - b), failures: h.failures }, idleHealth: base.ms.sort((a, b) => a - b), wall, alive: child.exitCode === null };
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
  const only = process.argv.includes('--flood-only') ? 'flood' : process.argv.includes('--codestream-only') ? 'codestream' : null;
  if (only === null) await burstSection(run, images, meanKb);
  if (only !== 'codestream') await floodSection(run, images[0]);
  if (only !== 'flood') await codestreamSection(run);
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
    const line = `| ${rate} | ${clients} x ${mib} MiB | ${count('200')} | ${count('503')} | ${f(quantile(r.refusedMs, 0.5))} / ${f(quantile(r.refusedMs, 0.95))} | ${f(quantile(r.refusedSent, 0.95) / 1024)} | ${count('deadline')} | ${others} | ${r.idle.now.toFixed(0)} → ${r.mem.peak.toFixed(0)} | ${hq.length} / ${r.health.failures} | ${quantile(hq, 0.5).toFixed(1)} / ${quantile(hq, 0.99).toFixed(1)} / ${hq.length ? hq[hq.length - 1].toFixed(1) : '–'} | ${quantile(hi, 0.5).toFixed(1)} / ${quantile(hi, 0.99).toFixed(1)} / ${hi.length ? hi[hi.length - 1].toFixed(1) : '–'} | ${loopCells(r.loop)} | ${(r.wall / 1000).toFixed(0)} | ${r.alive ? 'yes' : 'NO'} |`;
    console.log(line);
    rows.push(line);
  }
  const body2 = [
    `\`npx tsx bench/serve.ts --flood-only\`: ${clients} clients at once, each uploading a ${mib} MiB body (a dev-set PNG padded with zeros, so admitted uploads are decoded and predicted) ` +
      'as the raw request body over its own loopback socket at a fixed rate, to `deep-covid serve` with its defaults (50 MiB upload limit, 1 inference at a time, queue 4, byte budget 2 x 50 MiB), ' +
      'run from the build as users run it (`node bin/deep-covid.js serve`; the bench runs `npm run build` first). ' +
      `A refused client waits Retry-After and tries again, until ${seconds} s have passed (uploads still running then are cut: "cut"). ` +
      '/healthz is asked every 100 ms throughout (one request at a time, 5 s timeout); RSS is the server process\'s resident set, after start → peak (VmHWM). ' +
      'Measured inside the server during the flood (bench/loop-probe.mjs): event-loop delay (`monitorEventLoopDelay`, 10 ms resolution), the share of time the loop was busy, and the longest V8 pause per collection kind (`PerformanceObserver` \'gc\', with counts).',
    '',
    '| MB/s per upload | flood | 200 | 503 | 503 after (ms) p50 / p95 | body KiB sent when refused, p95 | cut | other | RSS MB idle → peak | /healthz answers / failures | /healthz ms p50 / p99 / max | same, idle server before the flood | loop delay ms p99 / max | loop busy % | GC pause max ms (count): mark-compact / scavenge | wall (s) | alive after |',
    '|---:|---|---:|---:|---|---:|---:|---|---|---|---|---|---|---:|---|---:|---|',
    ...rows,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} on the development machine: 2 cores shared with other helpers' builds and tests (load average ${loadBefore.toFixed(0)} before, ${loadavg()[0].toFixed(0)} after) ` +
      'and with this load generator itself, so latencies include waiting for a core; the idle column is the floor this sets. ' +
      'Before admission control (issue 13) the same flood at 4 MB/s buffered 1.23 GB before 19 uploads got 503, and at 8 MB/s /healthz did not answer within 30 s.',
  ].join('\n');
  await writeBenchSection('serve-flood', 'Web server under a slow-upload flood', body2);
}

/**
 * The audit's codestream bomb: a DICOM whose header says 16x16 and whose JPEG 2000 codestream
 * (SIZ marker) says 12000x12000. Before the fix it decoded in full (1.85 GB, /healthz blocked 15.6 s).
 */
async function codestreamBomb(): Promise<Uint8Array> {
  const frame = await encodeCodestream('j2k', 512, 512, (x, y) => (x * 37 + y * 11) & 0xfff);
  const at = Buffer.from(frame).indexOf(Buffer.from([0xff, 0x4f, 0xff, 0x51]));
  if (at < 0) throw new Error('no SIZ marker in the encoded codestream');
  const dv = new DataView(frame.buffer, frame.byteOffset);
  dv.setUint32(at + 8, 12000); // Xsiz
  dv.setUint32(at + 12, 12000); // Ysiz
  return dicomFile({ transferSyntax: TS.j2kLossless, rows: 16, columns: 16, bitsAllocated: 16, bitsStored: 12, pixels: { frames: [frame] } });
}

async function codestreamSection(run: string): Promise<void> {
  const count = Number(arg('--bombs') ?? 20);
  const bomb = await codestreamBomb();
  const { child, url } = await startServer(run, null);
  const port = Number(new URL(url).port);
  const loadBefore = loadavg()[0];
  let row: string;
  try {
    const idle = await rssOf(child.pid!);
    const stop = { stopped: false };
    probeReset(child);
    const health = watchHealth(port, stop);
    await sleep(1000);
    const answers: { status: number; ms: number; code: string }[] = [];
    // 4 at a time: what the default queue admits beside the running one
    for (let i = 0; i < count; i += 4) {
      await Promise.all(Array.from({ length: Math.min(4, count - i) }, async () => {
        const t0 = performance.now();
        const res = await fetch(`${url}api/predict?name=bomb.dcm`, { method: 'POST', body: new Uint8Array(bomb), headers: { 'content-type': 'application/dicom' } });
        const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
        answers.push({ status: res.status, ms: performance.now() - t0, code: body.error?.code ?? '' });
      }));
    }
    await sleep(1000);
    const loop = await probeReport(child);
    stop.stopped = true;
    const h = await health;
    const mem = await rssOf(child.pid!);
    const ms = answers.map((a) => a.ms).sort((a, b) => a - b);
    const statuses = [...new Set(answers.map((a) => `${a.status}${a.code ? ` ${a.code}` : ''}`))].join(', ');
    const hq = h.ms.sort((a, b) => a - b);
    row = `| ${(bomb.length / 1024).toFixed(1)} KiB, header 16x16, codestream 12000x12000 | ${count} | ${statuses} | ${quantile(ms, 0.5).toFixed(0)} / ${ms[ms.length - 1].toFixed(0)} | ${idle.now.toFixed(0)} → ${mem.peak.toFixed(0)} | ${hq.length} / ${h.failures} | ${quantile(hq, 0.5).toFixed(1)} / ${quantile(hq, 0.99).toFixed(1)} / ${hq.length ? hq[hq.length - 1].toFixed(1) : '–'} | ${loopCells(loop)} | ${child.exitCode === null ? 'yes' : 'NO'} |`;
    console.log(row);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  const text = [
    `\`npx tsx bench/serve.ts --codestream-only\`: the audit's codestream bomb (issue 13 item 1), a DICOM whose header says 16x16 but whose JPEG 2000 codestream says 12000x12000, ` +
      `uploaded ${count} times, 4 at once, to \`deep-covid serve\` with its defaults, while /healthz is asked every 100 ms; loop delay, busy share and GC pauses measured inside the server as in the flood table.`,
    '',
    '| file | uploads | answers | answer ms p50 / max | RSS MB idle → peak | /healthz answers / failures | /healthz ms p50 / p99 / max | loop delay ms p99 / max | loop busy % | GC pause max ms (count): mark-compact / scavenge | alive after |',
    '|---|---:|---|---|---|---|---|---|---:|---|---|',
    row,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} (load average ${loadBefore.toFixed(0)} before, ${loadavg()[0].toFixed(0)} after). ` +
      'Before the fix the same file decoded in full: 4–18 s, 1.85 GB peak, about 1 GB kept afterwards, and /healthz blocked for 15.6 s.',
  ].join('\n');
  await writeBenchSection('serve-codestream', 'Web server and the 12000x12000 codestream', text);
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
