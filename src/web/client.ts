/**
 * The client-side page (export-web, serve --client-side): the whole prediction runs in this browser
 * tab, so no image leaves the machine. PNG, JPEG and WebP are decoded by the browser; DICOM by the
 * project's own reader (input/dicom, the same modules and WASM codecs as Node's). Every image then
 * passes the same input gate as in Node (gate/: header facts, image facts, the learned
 * out-of-distribution score from the run's gate.json, combined by combineGate): a refused image
 * gets its reasons and no probability. Preprocessing is Node's module (preprocess/portable.ts),
 * the backbone runs with onnxruntime-web (WASM, SIMD; threads only when the page is cross-origin
 * isolated), the head and CAM are Node's code (head/predict.ts, explain/cam.ts). The page fetches
 * only its own static files (site.json, head.json, gate.json, the ONNX file, onnxruntime's and the
 * codecs' WASM), never with an image in the request.
 */
import type * as Ort from 'onnxruntime-web';
import { spatialMean } from '../backbone/pool.js';
import { camFromFeatureMap } from '../explain/cam.js';
import { combineGate } from '../gate/combine.js';
import { assessHeader, type DicomMeta } from '../gate/header.js';
import { assessImage, MEASURE_SIDE, measureGrey, pixelStats, shape } from '../gate/image.js';
import { assessScore, gateFromJSON, scoreFeatures, type GateModel } from '../gate/ood.js';
import type { GateResult, ImageFacts } from '../gate/types.js';
import { applyColormap } from '../explain/colormap.js';
import { predictProba } from '../head/predict.js';
import { headFromJSON } from '../head/serialize.js';
import type { Head } from '../head/types.js';
import { decodeDicomToGrey } from '../input/dicom/index.js';
import { sniffFormat } from '../input/sniff.js';
import { greyToTensor, resizeAndCropGrey } from '../preprocess/portable.js';
import type { SiteConfig } from '../server/site-config.js';
import { h, replaceChildren } from './dom.js';
import { gateWarningBox, refusalBox } from './gate-view.js';
import { percent, probabilityText, thresholdSentence } from './wording.js';

/** The loaded model: onnxruntime session, head, the gate's density model (null: the run has none), site description. */
interface ClientModel {
  ort: typeof Ort;
  session: Ort.InferenceSession;
  head: Head;
  gate: GateModel | null;
  site: SiteConfig;
}

const NOTICE = 'Research software, not a diagnostic device.';

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

/** Loads onnxruntime-web (from ./ort/), the site description, the head, the gate and the backbone (sha256 checked). */
async function loadModel(onStatus: (s: string) => void): Promise<ClientModel> {
  const site = (await (await fetchOk('site.json')).json()) as SiteConfig;
  const head = headFromJSON(await (await fetchOk(site.head)).json(), site.head);
  // read and checked as DeepCovidModel.load does: a gate fitted on another backbone is refused
  const gate = site.gate ? gateFromJSON(await (await fetchOk(site.gate)).json(), site.gate) : null;
  if (gate && gate.backboneSha256 !== site.backbone.sha256) throw new Error(`${site.gate} was fitted on another backbone's features than ${site.backbone.file}: export the run again`);
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
  return { ort, session, head, gate, site };
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

/** A decoded file: the grey image the model reads, the gate's image facts, and DICOM header facts. */
interface Decoded {
  grey: { data: Uint8Array; width: number; height: number };
  facts: ImageFacts;
  /** The DICOM header facts (DICOM files only). */
  meta?: DicomMeta;
}

/**
 * Decodes a file as Node does: DICOM with the project's reader (windowing, Modality LUT and
 * MONOCHROME1 as in Node); PNG, JPEG and WebP with the browser, into one grey channel (EXIF
 * orientation applied, alpha flattened onto black, colour reduced to luminance).
 */
async function decodeFile(file: File, maxPixels: number): Promise<Decoded> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const format = sniffFormat(bytes.subarray(0, 256));
  if (format === 'dicom') {
    const img = await decodeDicomToGrey(bytes, file.name, { maxPixels });
    return { grey: img, facts: measureGrey(img), ...(img.meta ? { meta: img.meta } : {}) };
  }
  if (format === null || format === 'tiff') throw new Error(`${file.name} is not a DICOM, PNG, JPEG or WebP image, which is what this page reads`);
  const blob = new Blob([bytes]);
  const grey = greyPixels(await bitmapOf(blob, file.name));
  return { grey, facts: await colourFacts(blob, file.name, grey.width, grey.height) };
}

async function bitmapOf(blob: Blob, name: string, size?: { resizeWidth: number; resizeHeight: number }): Promise<ImageBitmap> {
  try {
    return await createImageBitmap(blob, { imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'none', ...(size ? { ...size, resizeQuality: 'high' } : {}) });
  } catch {
    throw new Error(`${name} could not be decoded by this browser (damaged or truncated?)`);
  }
}

function rgbaOf(bitmap: ImageBitmap): Uint8ClampedArray {
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, canvas.width, canvas.height).data;
}

/** One grey channel as Node's decoder gives it: alpha onto black, colour to sRGB-encoded luminance. */
function greyPixels(bitmap: ImageBitmap): { data: Uint8Array; width: number; height: number } {
  const { width, height } = bitmap;
  const rgba = rgbaOf(bitmap);
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

/**
 * The gate's image facts of a browser-decoded file, measured as Node's measure-file.ts does: on
 * the image in colour at most MEASURE_SIDE px a side (alpha onto black), with the same statistics
 * (pixelStats). A file whose pixels are all grey is measured as grey (the browser does not say
 * how it was stored; a grey image stored as RGB gives the same statistics either way).
 */
async function colourFacts(blob: Blob, name: string, width: number, height: number): Promise<ImageFacts> {
  const long = Math.max(width, height);
  const scale = long > MEASURE_SIDE ? MEASURE_SIDE / long : 1;
  const size = scale < 1 ? { resizeWidth: Math.max(1, Math.round(width * scale)), resizeHeight: Math.max(1, Math.round(height * scale)) } : undefined;
  const rgba = rgbaOf(await bitmapOf(blob, name, size));
  const n = rgba.length >> 2;
  const rgb = new Uint8Array(3 * n);
  let colour = false;
  for (let i = 0; i < n; i++) {
    const a = rgba[4 * i + 3] / 255;
    const r = Math.round(rgba[4 * i] * a), g = Math.round(rgba[4 * i + 1] * a), b = Math.round(rgba[4 * i + 2] * a);
    rgb[3 * i] = r;
    rgb[3 * i + 1] = g;
    rgb[3 * i + 2] = b;
    if (r !== g || g !== b) colour = true;
  }
  const [w, h] = size ? [size.resizeWidth, size.resizeHeight] : [width, height];
  const stats = colour ? pixelStats(rgb, w, h, 3) : pixelStats(rgb.filter((_, k) => k % 3 === 0), w, h, 1);
  return { ...shape(width, height), ...stats, storedChannels: colour ? 3 : 1 };
}

/** One analysed image: the gate's verdict, and the prediction unless the gate refused the image. */
export interface ClientResult {
  gate: GateResult;
  /** Null when the gate refused the image. */
  prediction: {
    probability: number;
    label: 'covid' | 'non';
    /** CAM at feature-map resolution. */
    cam: { width: number; height: number; data: Float32Array };
    crop: Uint8Array;
  } | null;
  ms: number;
}

/** The whole path for one file, in this tab, in Node's order: features, gate, then (if allowed) head and CAM. */
async function analyse(m: ClientModel, file: File): Promise<ClientResult> {
  const t0 = performance.now();
  const { grey, facts, meta } = await decodeFile(file, m.site.card.limits.maxPixels);
  const cfg = m.site.preprocess;
  const crop = resizeAndCropGrey(grey.data, grey.width, grey.height, cfg);
  const input = new Float32Array(3 * cfg.crop[0] * cfg.crop[1]);
  greyToTensor(crop, cfg, input);
  const { map: mapName, pooled: pooledName, tensor } = m.site.model;
  const fetches = [mapName!, ...(pooledName ? [pooledName] : [])];
  const out = await m.session.run({ [m.site.model.input]: new m.ort.Tensor('float32', input, [1, 3, cfg.crop[0], cfg.crop[1]]) }, fetches);
  try {
    const mapT = out[mapName!];
    const [, c, mh, mw] = mapT.dims.map(Number);
    const map = mapT.data as Float32Array;
    // the pooled vector as Node's Backbone gives it: the graph's own, or the map's spatial mean
    const pooled = pooledName ? (out[pooledName].data as Float32Array) : spatialMean(map, 1, [c, mh, mw]);
    const score = m.gate ? scoreFeatures(m.gate, pooled, 1)[0] : null;
    const gate = combineGate({
      header: meta ? assessHeader(meta) : null,
      image: assessImage(facts),
      ood: m.gate && score !== null && Number.isFinite(score) ? assessScore(m.gate, score, facts.symmetry) : null,
    }, { disabled: m.site.gateDisabled === true, noOodModel: !m.gate });
    if (gate.verdict === 'refused') return { gate, prediction: null, ms: performance.now() - t0 };
    const probability = predictProba(m.head, tensor === 'map' ? map : pooled)[0];
    const { cam } = camFromFeatureMap(m.head, map, [c, mh, mw]);
    return { gate, prediction: { probability, label: probability >= m.site.threshold ? 'covid' : 'non', cam, crop }, ms: performance.now() - t0 };
  } finally {
    for (const t of Object.values(out)) t.dispose();
  }
}

/** The crop with the CAM laid over it (scaled to its own range; the browser smooths the upsampling). */
function overlay(r: NonNullable<ClientResult['prediction']>, size: [number, number]): HTMLCanvasElement {
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
  // opacity rises with the value (as on the server page): a low map leaves the film grey instead of tinting it all
  for (let i = 0; i < width * height; i++) {
    const v = hi > lo ? (data[i] - lo) / (hi - lo) : 0;
    heat.data.set([rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], Math.round(255 * v)], 4 * i);
  }
  sctx.putImageData(heat, 0, 0);
  ctx.globalAlpha = 0.7;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(small, 0, 0, cw, ch);
  return canvas;
}

function renderCard(site: SiteConfig, gate: GateModel | null): void {
  const c = site.card;
  const op = c.test?.operatingPoint;
  replaceChildren($('card-body'),
    h('p', {}, `Run ${c.runId}: ${c.backbone.name} backbone (${site.backbone.weights} weights), trained on ${c.training.dataset}.`),
    h('p', {}, thresholdSentence(site.threshold, c)),
    op ? h('p', {}, `On its test set: sensitivity ${percent(op.sensitivity.estimate ?? NaN)}, specificity ${percent(op.specificity.estimate ?? NaN)}.`) : null,
    h('h3', {}, 'Intended use'),
    h('p', {}, c.intendedUse),
    h('ul', {}, ...c.limitations.map((l) => h('li', {}, l))),
    h('h3', {}, 'Input gate'),
    h('p', { 'data-testid': 'gate-status' }, gateSentence(site, gate)));
}

/** What the page's input gate checks, in words. */
function gateSentence(site: SiteConfig, gate: GateModel | null): string {
  const facts = 'Every image passes the same input gate as in deep-covid predict: DICOM header facts (modality CR or DX, chest, PA or AP view), image facts (size, shape, contrast, colour)';
  const setOn = gate?.calibration.split === 'validation' ? 'the validation images' : 'out-of-fold scores of the images it was trained and validated on';
  const learned = gate
    ? gate.view
      ? ` and how unlike the training X-rays its features are, weighed with how far it is from left-right mirror symmetry as frontal films have (warning when both together exceed what 1 in ${Math.round(1 / (1 - gate.view.quantile))} of ${setOn} reach; refusal above a feature score of ${gate.farCutoff.toFixed(1)}).`
      : ` and how unlike the training X-rays its features are (warning above ${gate.cutoff.toFixed(1)}, set on ${setOn}; refusal above ${gate.farCutoff.toFixed(1)}).`
    : '. This run has no record of its training images (no gate.json), so that check is not made.';
  const off = site.gateDisabled ? ' This site was exported with the gate switched off: nothing is refused, and every result says what would have been.' : ' A refused image gets the reasons and no P(COVID).';
  return facts + learned + off;
}

/** A result card: a refusal with its reasons and nothing else, or (warnings first) P(COVID) and the map. */
function showResult(li: HTMLElement, name: string, r: ClientResult, site: SiteConfig): void {
  li.dataset.verdict = r.gate.verdict;
  li.dataset.reasons = r.gate.reasons.map((x) => x.code).join(' ');
  if (r.gate.ood) li.dataset.oodScore = String(r.gate.ood.score);
  if (r.gate.ood?.evidence !== undefined) li.dataset.oodEvidence = String(r.gate.ood.evidence);
  if (r.gate.image) li.dataset.symmetry = String(r.gate.image.symmetry);
  li.dataset.ms = r.ms.toFixed(1);
  const notes = r.gate.reasons.filter((x) => x.level === 'note');
  const title = h('h3', { class: 'result-title' }, name);
  if (!r.prediction) {
    li.classList.add('result-refused');
    replaceChildren(li, title, refusalBox(r.gate.reasons, NOTICE));
    return;
  }
  const p = r.prediction;
  li.classList.toggle('flagged', p.label === 'covid');
  replaceChildren(li, title,
    gateWarningBox(r.gate.reasons),
    h('p', { class: 'probability' },
      h('span', { class: 'probability-label' }, 'P(COVID)'),
      h('span', { class: 'probability-value', 'data-testid': 'probability', 'data-probability': String(p.probability), 'data-label': p.label, 'data-ms': r.ms.toFixed(1) }, probabilityText(p.probability))),
    h('p', { class: `verdict ${p.label === 'covid' ? 'verdict-flagged' : 'verdict-clear'}` },
      `${p.label === 'covid' ? 'Flagged: at or above' : 'Not flagged: below'} the threshold of ${percent(site.threshold)}.`),
    h('p', { class: 'notice' }, NOTICE),
    overlay(p, site.preprocess.crop),
    h('p', { class: 'hint' }, 'The model\'s 224 px crop with its class activation map: colour where the map is high (viridis, scaled to this image\'s own range), the film left grey where it is low.'),
    notes.length ? h('details', { class: 'facts-box' }, h('summary', {}, 'Notes from the input gate'), h('ul', { class: 'facts' }, ...notes.map((x) => h('li', {}, x.message)))) : null);
  li.dataset.cam = JSON.stringify({ width: p.cam.width, height: p.cam.height, data: Array.from(p.cam.data) });
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
  renderCard(model.site, model.gate);
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
          showResult(li, file.name, await analyse(model, file), model.site);
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
