// Times the full Deep-COVID protocol (100 epochs) per backbone on the dev set, and compares it with
// the protocol as the reference implementation runs it: a full backbone forward of every training
// and validation image in every epoch (estimated from the measured batch-20 forward rate).
// Usage: npx tsx bench/protocol.ts [backbone,...]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backbone } from '../src/backbone/backbone.js';
import { PAPER_BACKBONES } from '../src/backbone/registry.js';
import { FeatureCache } from '../src/features/cache.js';
import { trainRun } from '../src/protocol/train-run.js';
import { DEV_SHARED } from '../src/util/paths.js';
import { writeBenchSection } from './markdown-section.js';

const data = join(DEV_SHARED, 'data', 'covidx5k-dev');
const names = (process.argv[2] ?? PAPER_BACKBONES.join(',')).split(',');
const work = await mkdtemp(join(tmpdir(), 'dc-bench-protocol-'));
const ref = JSON.parse(await readFile(join(DEV_SHARED, 'reference', 'protocol', 'metrics.json'), 'utf8'));

async function forwardRate(name: string): Promise<number> {
  const b = await Backbone.load(name);
  const batch = new Float32Array(20 * b.imageLength).map((_, i) => Math.sin(i));
  const want = b.manifest.head.kind === 'squeezenet-conv' ? { map: true } : { pooled: true };
  await b.run(batch, 20, want);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 4000) {
    await b.run(batch, 20, want);
    n += 20;
  }
  const rate = n / ((performance.now() - t0) / 1000);
  await b.release();
  return rate;
}

const rows: string[] = [];
for (const name of names) {
  const cache = new FeatureCache(join(work, `cache-${name}`));
  const t0 = performance.now();
  const res = await trainRun({ data, out: join(work, name), config: { backbone: name }, cache, quiet: true });
  const total = (performance.now() - t0) / 1000;
  const t = res.record.timings;
  const c = res.record.data.counts;
  const rate = await forwardRate(name);
  // reference: every epoch forwards all (augmented) training and validation images; test once
  const refForwards = 100 * (c.trainAugmented.n + c.val.n) + (c.test?.n ?? 0);
  const refSeconds = refForwards / rate + t.trainHead;
  const torchHead = ref[name]?.timings_s?.train;
  console.log(`${name}: total ${total.toFixed(1)} s (extract ${(t.extractTrain + t.extractVal + t.extractTest).toFixed(1)} s, head ${t.trainHead} s); forward ${rate.toFixed(1)} img/s; reference protocol ≈ ${refSeconds.toFixed(0)} s; ratio ${(refSeconds / total).toFixed(0)}x`);
  rows.push(`| ${name} | ${res.record.backbone.weights} | ${c.trainAugmented.n} / ${c.val.n} / ${c.test?.n ?? 0} | ${(t.extractTrain + t.extractVal + t.extractTest).toFixed(1)} | ${t.trainHead.toFixed(1)}${torchHead ? ` (PyTorch: ${torchHead.toFixed(0)})` : ''} | ${total.toFixed(1)} | ${rate.toFixed(1)} | ${refSeconds.toFixed(0)} | **${(refSeconds / total).toFixed(0)}x** | ${res.metrics?.auc?.value.toFixed(3) ?? 'n/a'} |`);
}
await rm(work, { recursive: true, force: true });

const body = `Measured ${new Date().toISOString().slice(0, 10)} with \`npx tsx bench/protocol.ts\` on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), fresh feature cache, dev set \`covidx5k-dev\`, paper protocol (100 epochs, batch 20, COVID x5 augmentation).
The reference column estimates the protocol as the authors' script runs it: a full backbone forward of every training and validation image in every epoch (${'`'}100 x (train + val) + test${'`'} forwards at the measured batch-20 rate), plus the same head training time.

| backbone | weights | train (augmented) / val / test images | feature extraction (s) | head, 100 epochs (s) | whole protocol (s) | forward b20 (img/s) | reference protocol (s, est.) | speed-up | test AUC |
| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}

Targets: whole protocol ≥ 100x faster than the reference protocol; head under 2 s (linear) and 30 s (SqueezeNet conv head).`;
await writeBenchSection('protocol', 'Protocol', body);
console.log(body);
