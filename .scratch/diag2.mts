import { mkdtemp, mkdir, copyFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureCache } from '/work/wt-h17-browser/src/features/cache.js';
import { trainRun } from '/work/wt-h17-browser/src/protocol/train-run.js';
import { DeepCovidModel } from '/work/wt-h17-browser/src/model/index.js';
import { loadGreyImage } from '/work/wt-h17-browser/src/input/load-image.js';
import { resizeAndCrop } from '/work/wt-h17-browser/src/preprocess/to-tensor.js';
import { resizeAndCropGrey, greyToTensor } from '/work/wt-h17-browser/src/preprocess/portable.js';
import { IMAGENET_224 } from '/work/wt-h17-browser/src/preprocess/config.js';
const DEV = '/work/shared/data/covidx5k-dev';
const work = await mkdtemp(join(tmpdir(), 'dc-diag-'));
const data = join(work, 'data');
for (const split of ['train', 'test']) for (const label of ['covid', 'non']) {
  await mkdir(join(data, split, label), { recursive: true });
  const files = (await readdir(join(DEV, 'train', label))).sort();
  const pickd = split === 'train' ? files.slice(0, 16) : files.slice(16, 20);
  for (const f of pickd) await copyFile(join(DEV, 'train', label, f), join(data, split, label, f));
}
const runDir = join(work, 'run');
const t0 = Date.now();
await trainRun({ data, out: runDir, config: { backbone: 'squeezenet1_1', epochs: 6, augmentFactor: 2, seed: 5 }, cache: new FeatureCache(join(work, 'cache')) });
console.log(runDir, Date.now() - t0, 'ms');
const model = await DeepCovidModel.load(runDir);
let mx = 0;
for (const label of ['covid', 'non']) for (const f of (await readdir(join(DEV, 'test', label))).sort().slice(0, 10)) {
  const img = await loadGreyImage(join(DEV, 'test', label, f));
  const a = await resizeAndCrop(img, IMAGENET_224);
  const b = resizeAndCropGrey(img.data, img.width, img.height, IMAGENET_224);
  const ta = new Float32Array(3*224*224), tb = new Float32Array(3*224*224);
  greyToTensor(a, IMAGENET_224, ta); greyToTensor(b, IMAGENET_224, tb);
  const pa = (await model.score(ta, 1))[0], pb = (await model.score(tb, 1))[0];
  mx = Math.max(mx, Math.abs(pa - pb));
  console.log(f, pa.toFixed(4), pb.toFixed(4), model.threshold.toFixed(4));
}
console.log('max', mx);
await model.release();
