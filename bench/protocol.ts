// Times the full Deep-COVID protocol (100 epochs) per backbone on the dev set, and compares it with
// the protocol as the reference implementation (the authors' ResNet18_train.py) runs it: every
// epoch decodes, transforms and forwards every training image and every test image (its 'val'
// phase is the test folder), one after the other (num_workers 0). The reference time is estimated
// from per-image costs measured on this machine: PyTorch/torchvision forward and PIL decode +
// transform (bench/torch-reference.py, when /usr/bin/python3 has torchvision), and, for a
// same-engine comparison, onnxruntime's forward rate with our own decode.
// Usage: npx tsx bench/protocol.ts [backbone,...]
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Backbone } from '../src/backbone/backbone.js';
import { PAPER_BACKBONES } from '../src/backbone/registry.js';
import { FeatureCache } from '../src/features/cache.js';
import { trainRun } from '../src/protocol/train-run.js';
import { DEV_SHARED } from '../src/util/paths.js';
import { writeBenchSection } from './markdown-section.js';
import { env } from '../src/util/env.js';

// benchmarks use the backbones in ../shared/models beside the checkout
env.devModels = true;

const data = join(DEV_SHARED, 'data', 'covidx5k-dev');
const names = (process.argv[2] ?? PAPER_BACKBONES.join(',')).split(',');
const work = await mkdtemp(join(tmpdir(), 'dc-bench-protocol-'));
const ref = JSON.parse(await readFile(join(DEV_SHARED, 'reference', 'protocol', 'metrics.json'), 'utf8'));

/** PyTorch's per-image rates on this machine, or null when torch/torchvision are not installed. */
function torchRates(): { forward_b20: Record<string, number>; decode_transform: number; torch: string } | null {
  try {
    const out = execFileSync('/usr/bin/python3', [fileURLToPath(new URL('./torch-reference.py', import.meta.url)), data, '4'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return JSON.parse(out);
  } catch {
    return null;
  }
}

/** Decode + preprocess rate of our pipeline alone (images/s), for the same-engine estimate. */
async function decodeRate(): Promise<number> {
  const { readDataset } = await import('../src/dataset/read.js');
  const { probeImage } = await import('../src/input/load-image.js');
  const { resizeAndCropProbed } = await import('../src/preprocess/to-tensor.js');
  const { IMAGENET_224 } = await import('../src/preprocess/config.js');
  const files = (await readDataset(data)).items.slice(0, 200).map((i) => i.file);
  const t0 = performance.now();
  for (let i = 0; i < files.length; i += 20) await Promise.all(files.slice(i, i + 20).map(async (f) => resizeAndCropProbed(await probeImage(f), IMAGENET_224)));
  return files.length / ((performance.now() - t0) / 1000);
}

const torch = torchRates();
const ourDecode = await decodeRate();
console.log(torch ? `PyTorch ${torch.torch}: ${JSON.stringify(torch.forward_b20)}; PIL decode+transform ${torch.decode_transform.toFixed(0)}/s` : 'PyTorch/torchvision not found: only the same-engine estimate');

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
  const res = await trainRun({ data, out: join(work, name), config: { backbone: name }, cache });
  const total = (performance.now() - t0) / 1000;
  const t = res.record.timings;
  const c = res.record.data.counts;
  const rate = await forwardRate(name);
  // the reference's epochs: every (augmented) training image and every test image, decoded and forwarded
  const refForwards = 100 * (c.trainAugmented.n + (c.test?.n ?? 0));
  const sameEngine = refForwards * (1 / rate + 1 / ourDecode);
  const tf = torch?.forward_b20[name];
  const pytorch = tf ? refForwards * (1 / tf + 1 / torch!.decode_transform) : null;
  const torchHead = ref[name]?.timings_s?.train;
  console.log(`${name}: total ${total.toFixed(1)} s (extract ${(t.extractTrain + t.extractVal + t.extractTest).toFixed(1)} s, head ${t.trainHead} s); reference ≈ ${pytorch?.toFixed(0) ?? 'n/a'} s (PyTorch), ${sameEngine.toFixed(0)} s (same engine)`);
  rows.push(`| ${name} | ${res.record.backbone.weights} | ${(t.extractTrain + t.extractVal + t.extractTest).toFixed(1)} | ${t.trainHead.toFixed(1)}${torchHead ? ` (PyTorch: ${torchHead.toFixed(0)})` : ''} | ${total.toFixed(1)} | ${tf ? tf.toFixed(1) : 'n/a'} | ${pytorch ? pytorch.toFixed(0) : 'n/a'} | ${pytorch ? `**${(pytorch / total).toFixed(0)}x**` : 'n/a'} | ${rate.toFixed(1)} | ${sameEngine.toFixed(0)} | ${(sameEngine / total).toFixed(0)}x | ${res.metrics?.auc?.value.toFixed(3) ?? 'n/a'} |`);
}
await rm(work, { recursive: true, force: true });

const body = `Measured ${new Date().toISOString().slice(0, 10)} with \`npx tsx bench/protocol.ts\` on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), fresh feature cache, dev set \`covidx5k-dev\` (988 training images after COVID x5 augmentation, 53 validation, 392 test), paper protocol (100 epochs, batch 20).

The reference protocol is the authors' \`ResNet18_train.py\`: each of the 100 epochs decodes, transforms and forwards every training image and every test image (its "val" phase is the test folder), one at a time (\`num_workers=0\`), so 100 x (988 + 392) = 138,000 image passes against our 1,433. Its time is estimated from per-image costs measured on this machine: ${torch ? `PyTorch ${torch.torch} forward at batch 20 and PIL decode + transform (${torch.decode_transform.toFixed(0)} images/s), from \`bench/torch-reference.py\`` : 'PyTorch was not installed, so only'} and, as a same-engine comparison, onnxruntime's batch-20 forward rate plus our decode + preprocess (${ourDecode.toFixed(0)} images/s).

| backbone | weights | our feature extraction (s) | our head, 100 epochs (s) | our whole protocol (s) | PyTorch forward (img/s) | reference protocol, PyTorch (s, est.) | speed-up | onnxruntime forward (img/s) | reference protocol, same engine (s, est.) | speed-up | test AUC |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}

Targets: whole protocol ≥ 100x faster than the reference protocol; head under 2 s (linear) and 30 s (SqueezeNet conv head).`;
await writeBenchSection('protocol', 'Protocol', body);
console.log(body);
