/**
 * Times head training (Deep-COVID defaults: batch 20, Adam) on random features shaped like the real
 * ones: 984 training + 53 validation samples, post-ReLU (a share of exact zeros): half for the pooled
 * vectors, and for SqueezeNet's 512x13x13 maps 88.5% (the share measured on the dev set's maps) and,
 * for comparison with earlier runs, half.
 * Usage: npx tsx bench/head.ts [all|linear|squeeze] [epochs=100] [repeats=1] [--write]
 * Prints wall and CPU time per run and per training sample (median over the repeats, which alternate
 * between the rows); --write puts the table into BENCHMARKS.md between <!-- bench:head --> and
 * <!-- /bench:head -->.
 */
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { headInputSize, predictProba, trainHead, type HeadSpec } from '../src/head/index.js';
import { Rng } from '../src/util/rng.js';
import { writeBenchSection } from './markdown-section.js';

const SQUEEZE: HeadSpec = { kind: 'squeezenet-conv', inChannels: 512, spatial: [13, 13], dropout: 0.5 };

const N_TRAIN = 984;
const N_VAL = 53;

/**
 * Earlier implementations, wall seconds for 100 epochs with this script: before issue 3 (quiet
 * machine, load ~1.5), and before issue 18 (1 thread; 2 threads through the worker pool), run back
 * to back with the new code on the same data, 2026-12-02 under load ~10-15 (CPU seconds).
 */
const BEFORE: Record<string, string> = {
  'linear-1280': 'issue 3: 1.76 s',
  'linear-2048': 'issue 3: 1.17 s',
  'squeeze-real': 'issue 18: 11.1-11.6 s CPU (1 thread)',
  'squeeze-half': 'issue 3: 35.6 s; issue 18: 15.8-16.1 s CPU (1 thread), 13.4 s wall (2 threads, quiet)',
};

/** Non-negative random features (backbone outputs are post-ReLU) with a weak class signal in channel 0. */
function makeSet(spec: HeadSpec, n: number, rng: Rng, zeros: number): { features: Float32Array; labels: Uint8Array } {
  const size = headInputSize(spec);
  const per = size / spec.inChannels;
  const features = new Float32Array(n * size);
  const labels = new Uint8Array(n);
  for (let s = 0; s < n; s++) {
    const y = rng.next() < 0.5 ? 1 : 0;
    labels[s] = y;
    for (let i = 0; i < size; i++) features[s * size + i] = rng.next() < zeros ? 0 : rng.next();
    for (let q = 0; q < per; q++) features[s * size + q] += y;
  }
  return { features, labels };
}

interface Row {
  key: string;
  name: string;
  wallMs: number;
  cpuMs: number;
  bestEpoch: number;
  valAcc: number;
  predictMs: number;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

interface Case {
  key: string;
  name: string;
  spec: HeadSpec;
  zeros: number;
}

/** One timed training run of a case; the data are made outside the timing. */
function run(c: Case, data: { train: ReturnType<typeof makeSet>; val: ReturnType<typeof makeSet> }, epochs: number): Row {
  const c0 = cpuMs();
  const t0 = performance.now();
  const res = trainHead(c.spec, data.train, data.val, { epochs, seed: 7 });
  const wallMs = performance.now() - t0;
  const cpu = cpuMs() - c0;
  const t1 = performance.now();
  predictProba(res.head, data.val.features);
  const predictMs = performance.now() - t1;
  const last = res.history[res.history.length - 1];
  console.log(
    `${c.name}: ${epochs} epochs on ${N_TRAIN}+${N_VAL} samples: wall ${wallMs.toFixed(0)} ms ` +
      `(${((wallMs * 1000) / (epochs * N_TRAIN)).toFixed(1)} µs/sample), CPU ${cpu.toFixed(0)} ms; best epoch ${res.bestEpoch}, ` +
      `last val acc ${last.valAccuracy.toFixed(3)}; predictProba(${N_VAL}) ${predictMs.toFixed(1)} ms`,
  );
  return { key: c.key, name: c.name, wallMs, cpuMs: cpu, bestEpoch: res.bestEpoch, valAcc: last.valAccuracy, predictMs };
}

const args = process.argv.slice(2).filter((a) => a !== '--write');
const write = process.argv.includes('--write');
const which = args[0] ?? 'all';
const epochs = Number(args[1] ?? 100);
const repeats = Number(args[2] ?? 1);
const load0 = loadavg()[0];
const cases: Case[] = [];
if (which === 'all' || which === 'linear') {
  cases.push({ key: 'linear-1280', name: 'linear 1280-d (MobileNetV2, p=0.2)', spec: { kind: 'linear', inChannels: 1280, dropout: 0.2 }, zeros: 0.5 });
  cases.push({ key: 'linear-2048', name: 'linear 2048-d (ResNet50, p=0)', spec: { kind: 'linear', inChannels: 2048, dropout: 0 }, zeros: 0.5 });
}
if (which === 'all' || which === 'squeeze') {
  cases.push({ key: 'squeeze-real', name: 'squeezenet-conv 512x13x13 (p=0.5), 88.5% zeros', spec: SQUEEZE, zeros: 0.885 });
  cases.push({ key: 'squeeze-half', name: 'squeezenet-conv 512x13x13 (p=0.5), 50% zeros', spec: SQUEEZE, zeros: 0.5 });
}
const runs = new Map<string, Row[]>(cases.map((c) => [c.key, []]));
for (let r = 0; r < repeats; r++) {
  for (const c of cases) {
    const rng = new Rng(1);
    const data = { train: makeSet(c.spec, N_TRAIN, rng, c.zeros), val: makeSet(c.spec, N_VAL, rng, c.zeros) };
    runs.get(c.key)!.push(run(c, data, epochs));
  }
}
const rows: Row[] = cases.map((c) => {
  const all = runs.get(c.key)!;
  return { ...all[0], wallMs: median(all.map((x) => x.wallMs)), cpuMs: median(all.map((x) => x.cpuMs)), predictMs: median(all.map((x) => x.predictMs)) };
});
const load1 = loadavg()[0];

if (write) {
  const us = (ms: number): string => ((ms * 1000) / (epochs * N_TRAIN)).toFixed(1);
  const lines = [
    `\`npx tsx bench/head.ts ${which} ${epochs} ${repeats} --write\`: ${epochs} epochs, batch 20, ${N_TRAIN} training + ${N_VAL} validation`,
    `samples of random non-negative features, ${availableParallelism()} cores, load average ${load0.toFixed(1)} → ${load1.toFixed(1)} during the run`,
    `(other work shared the cores: wall times are upper bounds; medians of ${repeats} alternating runs). Training runs on one thread.`,
    '',
    '| head | wall (s) | CPU (s) | wall µs/sample | CPU µs/sample | earlier | best epoch | val acc |',
    '|---|---:|---:|---:|---:|---|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${(r.wallMs / 1000).toFixed(2)} | ${(r.cpuMs / 1000).toFixed(2)} | ${us(r.wallMs)} | ${us(r.cpuMs)} | ${BEFORE[r.key] ?? '-'} | ${r.bestEpoch} | ${r.valAcc.toFixed(3)} |`),
    '',
    'Per-sample µs = 100-epoch time / (100 x 984), so it includes validation, Adam and set-up (for the conv head,',
    'reducing the maps to their nonzero values and copying them into the kernel\'s WebAssembly memory).',
    '',
    'How the conv head gets there: the maps are stored as their nonzero values grouped by position (88.5%',
    'of SqueezeNet\'s values are exact zeros, which add nothing to the sums or gradients), dropout bits are',
    'drawn only for those values (one 32-bit draw per 32 values, ~400 words per sample instead of 2,704),',
    'and the forward pass over the kept values (the two class sums of a position stay in registers,',
    'recording the kept values), ReLU and pooling, and the backward pass over that record (skipping',
    'positions whose two ReLUs are off) run in WebAssembly (src/head/conv-kernel.wat, f64x2 lanes for the',
    'two classes), on one thread: the result does not depend on any thread count. Pooled heads: masks for',
    'p != 0.5 are drawn 8 elements per 32-bit draw',
    '(alias table), the input is copied and the dropped elements zeroed, and a batch\'s gradient is added',
    '4 samples per pass.',
  ];
  await writeBenchSection('head', 'Head training', lines.join('\n'));
  console.log('wrote the head section of BENCHMARKS.md');
}
