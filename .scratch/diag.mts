import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureCache } from '/work/wt-h17-browser/src/features/cache.js';
import { trainRun } from '/work/wt-h17-browser/src/protocol/train-run.js';
import { DeepCovidModel } from '/work/wt-h17-browser/src/model/index.js';
import { loadGreyImage } from '/work/wt-h17-browser/src/input/load-image.js';
import { resizeAndCrop } from '/work/wt-h17-browser/src/preprocess/to-tensor.js';
import { resizeAndCropGrey, greyToTensor } from '/work/wt-h17-browser/src/preprocess/portable.js';
import { IMAGENET_224 } from '/work/wt-h17-browser/src/preprocess/config.js';
import { makeTinyDataset } from '/work/wt-h17-browser/test/helpers/tiny-dataset.js';
const work = await mkdtemp(join(tmpdir(), 'dc-diag-'));
const data = await makeTinyDataset({ train: [12, 16], test: [4, 4], perPatient: 2, manifest: true });
const runDir = join(work, 'run');
await trainRun({ data, out: runDir, config: { backbone: 'squeezenet1_1', epochs: 6, augmentFactor: 2, seed: 5 }, cache: new FeatureCache(join(work, 'cache')) });
console.log(runDir);
const model = await DeepCovidModel.load(runDir);
for (const f of ['figure1-007e4ffdfe.png', 'figure1-16f9fcb4cb.png', 'figure1-295c244954.png']) {
  const img = await loadGreyImage('/work/shared/data/covidx5k-dev/test/covid/' + f);
  const a = await resizeAndCrop(img, IMAGENET_224);
  const b = resizeAndCropGrey(img.data, img.width, img.height, IMAGENET_224);
  const ta = new Float32Array(3*224*224), tb = new Float32Array(3*224*224);
  greyToTensor(a, IMAGENET_224, ta); greyToTensor(b, IMAGENET_224, tb);
  console.log(f, img.width, img.height, (await model.score(ta, 1))[0], (await model.score(tb, 1))[0]);
}
await model.release();
