import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadGreyImage } from '/work/wt-h17-browser/src/input/load-image.js';
import { resizeAndCrop } from '/work/wt-h17-browser/src/preprocess/to-tensor.js';
import { cropPlan } from '/work/wt-h17-browser/src/preprocess/portable.js';
import { IMAGENET_224 } from '/work/wt-h17-browser/src/preprocess/config.js';
// variant: vertical first, intermediate rounded, integer weights (12 bit), libvips centre
function taps(inSize: number, outSize: number, intW: boolean) {
  const scale = inSize / outSize; const sup = Math.max(scale, 1);
  const n = Math.ceil(2 * sup) + 1; // points
  const res: { first: number; w: number[] }[] = [];
  for (let i = 0; i < outSize; i++) {
    const X = (i + 0.5) * scale - 0.5;
    const first = Math.floor(X) - Math.floor(n / 2) + 1;
    let w: number[] = [];
    for (let j = 0; j < n; j++) { const x = first + j; w.push(Math.max(0, 1 - Math.abs(x - X) / sup)); }
    const s = w.reduce((a, b) => a + b, 0); w = w.map((v) => v / s);
    if (intW) w = w.map((v) => Math.round(v * 4096) / 4096);
    res.push({ first, w });
  }
  return res;
}
function resize(d: Uint8Array, W: number, H: number, nw: number, nh: number, vfirst: boolean, roundMid: boolean, intW: boolean) {
  const tx = taps(W, nw, intW), ty = taps(H, nh, intW);
  const clampi = (v: number, n: number) => Math.min(n - 1, Math.max(0, v));
  const rnd = (v: number) => roundMid ? Math.min(255, Math.max(0, Math.round(v))) : v;
  if (vfirst) {
    const mid = new Float64Array(W * nh);
    for (let y = 0; y < nh; y++) for (let x = 0; x < W; x++) { let s = 0; ty[y].w.forEach((w, j) => { s += w * d[clampi(ty[y].first + j, H) * W + x]; }); mid[y * W + x] = rnd(s); }
    const out = new Uint8Array(nw * nh);
    for (let y = 0; y < nh; y++) for (let x = 0; x < nw; x++) { let s = 0; tx[x].w.forEach((w, j) => { s += w * mid[y * W + clampi(tx[x].first + j, W)]; }); out[y * nw + x] = Math.min(255, Math.max(0, Math.round(s))); }
    return out;
  }
  const mid = new Float64Array(nw * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < nw; x++) { let s = 0; tx[x].w.forEach((w, j) => { s += w * d[y * W + clampi(tx[x].first + j, W)]; }); mid[y * nw + x] = rnd(s); }
  const out = new Uint8Array(nw * nh);
  for (let y = 0; y < nh; y++) for (let x = 0; x < nw; x++) { let s = 0; ty[y].w.forEach((w, j) => { s += w * mid[clampi(ty[y].first + j, H) * nw + x]; }); out[y * nw + x] = Math.min(255, Math.max(0, Math.round(s))); }
  return out;
}
const dir = '/work/shared/data/covidx5k-dev/test/covid';
const imgs = [];
for (const f of readdirSync(dir).slice(0, 12)) { const img = await loadGreyImage(join(dir, f)); imgs.push({ img, ref: await resizeAndCrop(img, IMAGENET_224) }); }
for (const vfirst of [false, true]) for (const roundMid of [false, true]) for (const intW of [false, true]) {
  let maxd = 0, sum = 0, n = 0;
  for (const { img, ref } of imgs) {
    const p = cropPlan(img.width, img.height, IMAGENET_224);
    const r = resize(img.data, img.width, img.height, p.nw, p.nh, vfirst, roundMid, intW);
    for (let y = 0; y < 224; y++) for (let x = 0; x < 224; x++) { const d = Math.abs(r[(y + p.top) * p.nw + x + p.left] - ref[y * 224 + x]); maxd = Math.max(maxd, d); sum += d; n++; }
  }
  console.log({ vfirst, roundMid, intW, maxd, mean: (sum / n).toFixed(4) });
}
