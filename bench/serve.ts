/**
 * Load test of `deep-covid serve`: spawns the server on 127.0.0.1 (any free port), fires N
 * concurrent uploads of dev-set X-rays at once (a fixed number: the loop ends by itself), and
 * reports how many got 200 or 503, p50/p95 latency, the server's peak RSS and whether it still
 * answers afterwards. Two settings: the default queue (4 waiting), where most of a burst of 50 is
 * refused at once with 503 + Retry-After, and a queue long enough to take the whole burst.
 * Usage: npx tsx bench/serve.ts [--run DIR] [--n 50]
 * Without --run a tiny run is trained on synthetic images (the timing is the backbone's, not the head's).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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
function startServer(run: string, queue: number): Promise<{ child: ChildProcess; url: string }> {
  const code = "import('./src/cli/main.ts').then(async (m) => { process.exitCode = await m.main(['node', 'deep-covid', ...process.argv.slice(1)]); })";
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', code, 'serve', '--run', run, '--port', '0', '--queue', String(queue)], {
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
  const rows: string[] = [];
  for (const queue of [4, N]) {
    const r = await scenario(run, queue, images);
    const f = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '–');
    const line = `| ${queue} | ${r.ok.length} | ${r.busy.length} | ${r.other} | ${f(quantile(r.ok, 0.5))} / ${f(quantile(r.ok, 0.95))} | ${f(quantile(r.busy, 0.5))} / ${f(quantile(r.busy, 0.95))} | ${(r.wall / 1000).toFixed(1)} | ${r.idle.now.toFixed(0)} → ${r.mem.peak.toFixed(0)} | ${r.alive ? 'yes' : 'NO'} |`;
    console.log(line);
    rows.push(line);
  }
  if (temp) await rm(temp, { recursive: true, force: true });
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
