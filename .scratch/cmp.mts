import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadGreyImage } from '/work/wt-h17-browser/src/input/load-image.js';
import { resizeAndCrop } from '/work/wt-h17-browser/src/preprocess/to-tensor.js';
import { resizeAndCropGrey } from '/work/wt-h17-browser/src/preprocess/portable.js';
import { IMAGENET_224 } from '/work/wt-h17-browser/src/preprocess/config.js';
const dir = '/work/shared/data/covidx5k-dev/test/covid';
let maxd = 0, sum = 0, n = 0;
for (const f of readdirSync(dir).slice(0, 40)) {
  const img = await loadGreyImage(join(dir, f));
  const a = await resizeAndCrop(img, IMAGENET_224);
  const b = resizeAndCropGrey(img.data, img.width, img.height, IMAGENET_224);
  let m = 0;
  for (let i = 0; i < a.length; i++) { const d = Math.abs(a[i] - b[i]); m = Math.max(m, d); sum += d; n++; }
  maxd = Math.max(maxd, m);
  if (m > 2) console.log(f, img.width, img.height, m);
}
console.log('max', maxd, 'mean', sum / n);
