/**
 * The client-side page (export-web, serve --client-side): the whole prediction runs in this browser
 * tab, so no image leaves the machine. Files are decoded by the browser, preprocessed by the same
 * module as Node's (preprocess/portable.ts), run through the backbone with onnxruntime-web (WASM,
 * SIMD; threads only when the page is cross-origin isolated), scored by the same head code as
 * Node's (head/predict.ts) and explained by the same CAM code (explain/cam.ts). The page fetches
 * only its own static files (site.json, head.json, the ONNX file, onnxruntime's WASM), never with
 * an image in the request.
 */
import type * as Ort from 'onnxruntime-web';
import { camFromFeatureMap } from '../explain/cam.js';
import { applyColormap } from '../explain/colormap.js';
import { predictProba } from '../head/predict.js';
import { headFromJSON } from '../head/serialize.js';
import type { Head } from '../head/types.js';
import { sniffFormat } from '../input/sniff.js';
import { greyToTensor, resizeAndCropGrey } from '../preprocess/portable.js';
import type { SiteConfig } from '../server/site-config.js';
import { h, replaceChildren } from './dom.js';
import { percent, probabilityText, thresholdSentence } from './wording.js';

/** The loaded model: onnxruntime session, head, site description. */
interface ClientModel {
  ort: typeof Ort;
  session: Ort.InferenceSession;
  head: Head;
  site: SiteConfig;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

async function fetchOk(url: string): Promise<Response> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url} could not be loaded (${res.status} ${res.statusText}): is the exported folder complete?`);
  return res;
}

async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Loads onnxruntime-web (from ./ort/), the site description, the head and the backbone (sha256 checked). */
async function loadModel(onStatus: (s: string) => void): Promise<ClientModel> {
  const site = (await (await fetchOk('site.json')).json()) as SiteConfig;
  const head = headFromJSON(await (await fetchOk(site.head)).json(), site.head);
  const base = new URL('ort/', location.href).href;
  // a URL held in a variable: the bundler leaves this import to the browser
  const ortUrl = `${base}ort.wasm.min.mjs`;
  const ort = (await import(ortUrl)) as typeof Ort;
  ort.env.wasm.wasmPaths = base;
  ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  onStatus(`Loading the ${site.backbone.name} backbone…`);
  const bytes = await (await fetchOk(site.model.file)).arrayBuffer();
  const digest = await sha256Hex(bytes);
  if (digest !== site.model.sha256) throw new Error(`${site.model.file} is not the exported backbone (sha256 ${digest.slice(0, 12)}…, expected ${site.model.sha256.slice(0, 12)}…): export the run again`);
  const session = await ort.InferenceSession.create(new Uint8Array(bytes), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  return { ort, session, head, site };
}

/** sRGB 8-bit → linear light, for luminance as libvips computes it. */
const TO_LINEAR = Float64Array.from({ length: 256 }, (_, v) => {
  const c = v / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
});
function toSrgb8(y: number): number {
  const c = y <= 0.0031308 ? 12.92 * y : 1.055 * y ** (1 / 2.4) - 0.055;
  return Math.min(255, Math.max(0, Math.round(c * 255)));
}

/**
 * Decodes a PNG, JPEG or WebP with the browser into one grey channel as the Node path does: EXIF
 * orientation applied, alpha flattened onto black, colour reduced to luminance. DICOM and TIFF are
 * refused with a message (this page has no DICOM reader).
 */
async function decodeGrey(file: File): Promise<{ data: Uint8Array; width: number; height: number }> {
  const head = new Uint8Array(await file.slice(0, 256).arrayBuffer());
  const format = sniffFormat(head);
  if (format === 'dicom') throw new Error(`${file.name} is a DICOM file: this page decodes PNG, JPEG and WebP only; use deep-covid predict or serve (without --client-side) for DICOM`);
  if (format === null || format === 'tiff') throw new Error(`${file.name} is not a PNG, JPEG or WebP image, which is what this page reads`);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  } catch {
    throw new Error(`${file.name} could not be decoded by this browser (damaged or truncated?)`);
  }
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const data = new Uint8Array(width * height);
  for (let i = 0, j = 0; i < data.length; i++, j += 4) {
    const a = rgba[j + 3] / 255; // onto black: the colour scaled by alpha
    const r = rgba[j], g = rgba[j + 1], b = rgba[j + 2];
    if (r === g && g === b) data[i] = Math.round(r * a);
    else data[i] = toSrgb8(a === 1 ? 0.2126 * TO_LINEAR[r] + 0.7152 * TO_LINEAR[g] + 0.0722 * TO_LINEAR[b]
      : 0.2126 * TO_LINEAR[Math.round(r * a)] + 0.7152 * TO_LINEAR[Math.round(g * a)] + 0.0722 * TO_LINEAR[Math.round(b * a)]);
  }
  return { data, width, height };
}

/** One analysed image. */
export interface ClientResult {
  probability: number;
  label: 'covid' | 'non';
  /** CAM at feature-map resolution. */
  cam: { width: number; height: number; data: Float32Array };
  crop: Uint8Array;
  ms: number;
}

/** The whole path for one file, in this tab. */
async function analyse(m: ClientModel, file: File): Promise<ClientResult> {
  const t0 = performance.now();
  const grey = await decodeGrey(file);
  const cfg = m.site.preprocess;
  const crop = resizeAndCropGrey(grey.data, grey.width, grey.height, cfg);
  const input = new Float32Array(3 * cfg.crop[0] * cfg.crop[1]);
  greyToTensor(crop, cfg, input);
  const { map: mapName, pooled: pooledName, tensor } = m.site.model;
  const fetches = [mapName!, ...(tensor === 'pooled' && pooledName ? [pooledName] : [])];
  const out = await m.session.run({ [m.site.model.input]: new m.ort.Tensor('float32', input, [1, 3, cfg.crop[0], cfg.crop[1]]) }, fetches);
  const mapT = out[mapName!];
  const [, c, mh, mw] = mapT.dims.map(Number);
  const map = mapT.data as Float32Array;
  let features: Float32Array;
  if (tensor === 'map') features = map;
  else if (pooledName) features = out[pooledName].data as Float32Array;
  else {
    // no pooled output in the graph: its spatial mean, as Node's Backbone does
    features = new Float32Array(c);
    for (let k = 0; k < c; k++) {
      let s = 0;
      for (let p = 0; p < mh * mw; p++) s += map[k * mh * mw + p];
      features[k] = s / (mh * mw);
    }
  }
  const probability = predictProba(m.head, features)[0];
  const { cam } = camFromFeatureMap(m.head, map, [c, mh, mw]);
  for (const t of Object.values(out)) t.dispose();
  return { probability, label: probability >= m.site.threshold ? 'covid' : 'non', cam, crop, ms: performance.now() - t0 };
}

/** The crop with the CAM laid over it (scaled to its own range; the browser smooths the upsampling). */
function overlay(r: ClientResult, size: [number, number]): HTMLCanvasElement {
  const [ch, cw] = size;
  const canvas = h('canvas', { width: String(cw), height: String(ch), class: 'viewer-img', 'aria-label': 'the model\'s 224 px crop with its class activation map' });
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(cw, ch);
  for (let i = 0; i < r.crop.length; i++) img.data.set([r.crop[i], r.crop[i], r.crop[i], 255], 4 * i);
  ctx.putImageData(img, 0, 0);
  const { width, height, data } = r.cam;
  let lo = Infinity, hi = -Infinity;
  for (const v of data) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const rgb = applyColormap(Array.from(data, (v) => (hi > lo ? (v - lo) / (hi - lo) : 0)));
  const small = new OffscreenCanvas(width, height);
  const sctx = small.getContext('2d')!;
  const heat = sctx.createImageData(width, height);
  for (let i = 0; i < width * height; i++) heat.data.set([rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], 255], 4 * i);
  sctx.putImageData(heat, 0, 0);
  ctx.globalAlpha = 0.5;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(small, 0, 0, cw, ch);
  return canvas;
}

function renderCard(site: SiteConfig): void {
  const c = site.card;
  const op = c.test?.operatingPoint;
  replaceChildren($('card-body'),
    h('p', {}, `Run ${c.runId}: ${c.backbone.name} backbone (${site.backbone.weights} weights), trained on ${c.training.dataset}.`),
    h('p', {}, thresholdSentence(site.threshold, c)),
    op ? h('p', {}, `On its test set: sensitivity ${percent(op.sensitivity.estimate ?? NaN)}, specificity ${percent(op.specificity.estimate ?? NaN)}.`) : null,
    h('h3', {}, 'Intended use'),
    h('p', {}, c.intendedUse),
    h('ul', {}, ...c.limitations.map((l) => h('li', {}, l))),
    site.gate ? h('p', {}, 'This run has input-gate statistics (gate.json); this page does not apply the gate yet.') : null);
}

async function main(): Promise<void> {
  const status = (s: string) => { $('status').textContent = s; };
  let model: ClientModel;
  try {
    status('Loading the model into this browser…');
    model = await loadModel(status);
  } catch (err) {
    status(`The model could not be loaded: ${(err as Error).message}`);
    document.body.dataset.state = 'error';
    return;
  }
  renderCard(model.site);
  const threads = model.ort.env.wasm.numThreads;
  status(`Ready: the model runs in this browser (WebAssembly, ${threads === 1 ? 'one thread' : `${threads} threads`}); images never leave this computer.`);
  document.body.dataset.state = 'ready';
  const input = $<HTMLInputElement>('file-input');
  let queue = Promise.resolve();
  input.addEventListener('change', () => {
    const files = Array.from(input.files ?? []);
    input.value = '';
    for (const file of files) {
      const li = h('li', { class: 'result', 'aria-busy': 'true', 'data-file': file.name }, h('h3', { class: 'result-title' }, file.name), h('p', {}, 'Waiting…'));
      $('results').append(li);
      queue = queue.then(async () => {
        try {
          const r = await analyse(model, file);
          replaceChildren(li,
            h('h3', { class: 'result-title' }, file.name),
            h('p', { 'data-testid': 'probability', 'data-probability': String(r.probability), 'data-label': r.label, 'data-ms': r.ms.toFixed(1) },
              `P(COVID) ${probabilityText(r.probability)}: ${r.label === 'covid' ? 'flagged' : 'not flagged'} at the threshold of ${percent(model.site.threshold)}. Research software, not a diagnostic device.`),
            overlay(r, model.site.preprocess.crop),
            h('p', { class: 'hint' }, 'The model\'s 224 px crop with its class activation map (scaled to this image\'s own range).'));
          li.dataset.cam = JSON.stringify({ width: r.cam.width, height: r.cam.height, data: Array.from(r.cam.data) });
        } catch (err) {
          replaceChildren(li, h('h3', { class: 'result-title' }, file.name), h('p', { role: 'alert', class: 'error' }, (err as Error).message));
        }
        li.removeAttribute('aria-busy');
        li.dataset.done = '1';
      });
    }
  });
}

void main();
