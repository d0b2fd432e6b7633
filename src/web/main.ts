/**
 * The deep-covid page: upload chest X-rays, show P(COVID), the label at the run's threshold and
 * what that threshold means, with a heatmap overlay, next to the run's model card.
 * No inline scripts or styles (the server's CSP forbids them); text is set as text, never HTML.
 */
import type { ApiError, ApiHeatmap, ApiModelCard, ApiPrediction } from '../server/api-types.js';
import { h, replaceChildren } from './dom.js';
import { bytesText, operatingPointSentence, percent, probabilityText, proportionText, thresholdSentence, verdictText } from './wording.js';

let card: ApiModelCard | null = null;
let nextId = 0;
const MAX_RETRIES = 3;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function announce(text: string): void {
  $('status').textContent = text;
}

/** POSTs one file; waits and retries (a few times) when the server answers 503 busy. */
async function predict(file: File, occlusion: boolean, onWait: (s: number) => void): Promise<ApiPrediction> {
  for (let attempt = 0; ; attempt++) {
    const form = new FormData();
    form.append('file', file, file.name);
    let res: Response;
    try {
      res = await fetch(`/api/predict${occlusion ? '?occlusion=1' : ''}`, { method: 'POST', body: form });
    } catch {
      throw new Error('The server could not be reached. Is deep-covid serve still running?');
    }
    if (res.ok) return (await res.json()) as ApiPrediction;
    const body = (await res.json().catch(() => null)) as ApiError | null;
    const message = body?.error?.message ?? `The server answered ${res.status} ${res.statusText}.`;
    if (res.status === 503 && attempt < MAX_RETRIES) {
      const wait = Math.min(30, Math.max(1, Number(res.headers.get('retry-after')) || 2));
      onWait(wait);
      await new Promise((r) => setTimeout(r, wait * 1000));
      continue;
    }
    throw new Error(message);
  }
}

function png(b64: string): string {
  return `data:image/png;base64,${b64}`;
}

/** One result card: created at once in a pending state, filled in when the answer comes. */
class ResultCard {
  readonly li: HTMLLIElement;
  private readonly id = `r${nextId++}`;
  private result: ApiPrediction | null = null;
  private method: 'cam' | 'occlusion' = 'cam';
  private heatImg: HTMLImageElement | null = null;
  private showHeat = true;
  private opacity = 0.8;

  constructor(private readonly file: File) {
    this.li = h('li', { class: 'result', 'aria-busy': 'true', 'aria-labelledby': `${this.id}-title` },
      h('h3', { id: `${this.id}-title`, class: 'result-title' }, file.name),
      h('p', { class: 'pending' }, `Analysing ${file.name} (${bytesText(file.size)})…`));
  }

  fail(message: string): void {
    this.li.setAttribute('aria-busy', 'false');
    this.li.classList.add('result-error');
    replaceChildren(this.li,
      h('h3', { id: `${this.id}-title`, class: 'result-title' }, this.file.name),
      h('p', { class: 'error', role: 'alert' }, h('strong', {}, 'Not analysed: '), message));
  }

  waiting(seconds: number): void {
    const p = this.li.querySelector('.pending');
    if (p) p.textContent = `The server is busy with other images; trying again in ${seconds} s…`;
  }

  show(r: ApiPrediction): void {
    this.result = r;
    this.li.setAttribute('aria-busy', 'false');
    this.li.classList.toggle('flagged', r.label === 'covid');
    replaceChildren(this.li,
      h('h3', { id: `${this.id}-title`, class: 'result-title' }, r.file),
      h('div', { class: 'result-grid' }, this.viewer(r), this.summary(r)));
    this.applyHeat();
  }

  private viewer(r: ApiPrediction): HTMLElement {
    const crop = h('img', { class: 'crop', src: png(r.crop.png), width: String(r.crop.width), height: String(r.crop.height), alt: `The ${r.crop.width} x ${r.crop.height} grey crop of ${r.file} that the model saw` });
    this.heatImg = h('img', { class: 'heat', width: String(r.crop.width), height: String(r.crop.height), alt: '', 'data-testid': 'heatmap' });
    const toggle = h('input', { type: 'checkbox', id: `${this.id}-show`, checked: true });
    toggle.addEventListener('change', () => { this.showHeat = toggle.checked; this.applyHeat(); });
    const slider = h('input', { type: 'range', id: `${this.id}-opacity`, min: '0', max: '100', step: '5', value: String(this.opacity * 100), 'aria-describedby': `${this.id}-opacity-value` });
    const out = h('output', { id: `${this.id}-opacity-value`, for: `${this.id}-opacity` }, percent(this.opacity, 0));
    slider.addEventListener('input', () => { this.opacity = Number(slider.value) / 100; out.textContent = percent(this.opacity, 0); this.applyHeat(); });
    const methods = h('div', { class: 'methods', role: 'radiogroup', 'aria-label': 'Heatmap method' }, ...(['cam', 'occlusion'] as const).map((m) => {
      const input = h('input', { type: 'radio', name: `${this.id}-method`, id: `${this.id}-m-${m}`, value: m, checked: m === this.method });
      input.addEventListener('change', () => { if (input.checked) this.selectMethod(m); });
      return h('span', { class: 'method' }, input, h('label', { for: `${this.id}-m-${m}` }, m === 'cam' ? 'CAM' : 'Occlusion'));
    }));
    const legend = h('div', { class: 'legend' }, h('span', {}, 'none'), h('span', { class: 'legend-bar', 'aria-hidden': 'true' }), h('span', {}, 'high'));
    return h('figure', { class: 'viewer-figure' },
      h('div', { class: 'viewer' }, crop, this.heatImg),
      h('figcaption', {},
        h('fieldset', { class: 'controls' }, h('legend', {}, 'Heatmap'),
          h('div', { class: 'control-row' }, toggle, h('label', { for: `${this.id}-show` }, 'Show heatmap')),
          h('div', { class: 'control-row' }, h('label', { for: `${this.id}-opacity` }, 'Opacity'), slider, out),
          methods),
        legend,
        h('p', { class: 'meaning', id: `${this.id}-meaning` })));
  }

  private summary(r: ApiPrediction): HTMLElement {
    const op = r.operatingPoint;
    const occButton = h('button', { type: 'button', class: 'secondary', id: `${this.id}-occ` }, r.heatmaps.occlusion ? 'Occlusion map ready' : 'Compute occlusion map (slower)');
    if (r.heatmaps.occlusion) occButton.disabled = true;
    occButton.addEventListener('click', () => void this.computeOcclusion(occButton));
    return h('div', { class: 'summary' },
      h('p', { class: 'probability' },
        h('span', { class: 'probability-label' }, 'P(COVID)'),
        h('span', { class: 'probability-value', 'data-testid': 'probability', 'data-probability': String(r.probability) }, probabilityText(r.probability))),
      h('p', { class: `verdict ${r.label === 'covid' ? 'verdict-flagged' : 'verdict-clear'}`, 'data-testid': 'label', 'data-label': r.label }, verdictText(r)),
      h('p', {}, thresholdSentence(r.threshold, card)),
      op ? h('p', { 'data-testid': 'operating-point' }, operatingPointSentence(op)) : h('p', {}, 'This run has no test results, so the threshold\'s error rates are unknown.'),
      r.model.warning ? h('p', { class: 'banner-inline' }, r.model.warning) : null,
      occButton,
      h('details', {},
        h('summary', {}, 'Details'),
        h('ul', { class: 'facts' },
          h('li', {}, `Image: ${r.image.format.toUpperCase()}, ${r.image.width} x ${r.image.height} pixels, ${r.image.bitDepth}-bit`),
          h('li', {}, `Model: ${r.model.backbone}, run ${r.model.runId} (${r.model.weights} weights)`),
          h('li', {}, `Exact P(COVID): ${r.probability.toFixed(6)}; threshold ${r.threshold.toFixed(6)}`),
          h('li', {}, `Time: ${Math.round(r.timings.totalMs)} ms on the server (decode ${Math.round(r.timings.decodeMs)}, model ${Math.round(r.timings.inferenceMs)}${r.timings.occlusionMs !== null ? `, occlusion ${Math.round(r.timings.occlusionMs)}` : ''} ms)`))),
      h('p', { class: 'notice' }, r.notice));
  }

  private current(): ApiHeatmap | null {
    return this.result ? this.result.heatmaps[this.method] : null;
  }

  private applyHeat(): void {
    const heat = this.current();
    const img = this.heatImg;
    if (!img || !this.result) return;
    const meaning = this.li.querySelector('.meaning');
    if (heat) {
      if (img.dataset.method !== heat.method) {
        img.src = png(heat.heatmapPng);
        img.dataset.method = heat.method;
      }
      img.hidden = !this.showHeat;
      // CSSOM, not a style attribute: allowed by the page's CSP
      img.style.opacity = String(this.opacity);
      if (meaning) meaning.textContent = `${heat.meaning} Colours: ${heat.colourMap}.`;
    } else {
      img.hidden = true;
      if (meaning) meaning.textContent = this.method === 'occlusion' ? 'No occlusion map yet: use "Compute occlusion map".' : 'This backbone exposes no feature map, so there is no CAM.';
    }
  }

  private selectMethod(m: 'cam' | 'occlusion'): void {
    this.method = m;
    this.applyHeat();
  }

  private async computeOcclusion(button: HTMLButtonElement): Promise<void> {
    if (!this.result) return;
    button.disabled = true;
    button.textContent = 'Computing occlusion map…';
    announce(`Computing the occlusion map of ${this.file.name}…`);
    try {
      const r = await predict(this.file, true, (s) => { button.textContent = `Server busy, retrying in ${s} s…`; });
      this.result.heatmaps.occlusion = r.heatmaps.occlusion;
      button.textContent = 'Occlusion map ready';
      const radio = this.li.querySelector<HTMLInputElement>(`#${this.id}-m-occlusion`);
      if (radio) radio.checked = true;
      this.selectMethod('occlusion');
      announce(`Occlusion map of ${this.file.name} ready.`);
    } catch (err) {
      button.disabled = false;
      button.textContent = 'Compute occlusion map (slower)';
      announce(`Occlusion map of ${this.file.name} failed: ${(err as Error).message}`);
    }
  }
}

/** Analyses files one after the other (the server runs one inference at a time anyway). */
async function analyse(files: File[]): Promise<void> {
  if (!files.length) return;
  const occlusion = $<HTMLInputElement>('occlusion-default').checked;
  const list = $('results');
  const cards = files.map((f) => new ResultCard(f));
  for (const c of cards.slice().reverse()) list.prepend(c.li);
  announce(`Analysing ${files.length} file${files.length > 1 ? 's' : ''}…`);
  let done = 0;
  for (let i = 0; i < files.length; i++) {
    try {
      const r = await predict(files[i], occlusion, (s) => cards[i].waiting(s));
      cards[i].show(r);
      done++;
      announce(`${r.file}: P(COVID) ${probabilityText(r.probability)}, ${r.label === 'covid' ? 'flagged' : 'not flagged'} at the threshold of ${percent(r.threshold)}.${files.length > 1 ? ` ${i + 1} of ${files.length} done.` : ''}`);
    } catch (err) {
      cards[i].fail((err as Error).message);
      announce(`${files[i].name} could not be analysed; the reason is in its card.`);
    }
  }
  if (files.length > 1) announce(`Finished: ${done} of ${files.length} files analysed.`);
}

function renderCard(c: ApiModelCard): void {
  const counts = c.training.counts;
  const part = (p: { n: number; covid: number }) => `${p.n} images (${p.covid} COVID, ${p.n - p.covid} non-COVID)`;
  const dl = (...rows: [string, Node | string][]) => h('dl', {}, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  const test = c.test;
  replaceChildren($('card-body'),
    c.model.warning ? h('p', { class: 'banner-inline' }, c.model.warning) : null,
    h('h3', {}, 'Model'),
    dl(['Run', c.runId], ['Backbone', `${c.backbone.name} (frozen), new ${c.backbone.head} head`], ['Weights', `${c.model.weights}: ${c.model.weightsNote}`]),
    h('h3', {}, 'Training data'),
    dl(['Dataset', `${c.training.dataset} (${c.training.origin})`], ['Training', `${part(counts.train)}; ${counts.trainAugmented.n} after augmenting COVID images x${c.training.protocol.augmentFactor}`],
      ['Validation', `${part(counts.validation)}, split by ${c.training.validationSplitBy}`], ['Test', counts.test ? part(counts.test) : 'none'],
      ['Training', `${c.training.protocol.epochs} epochs (best: ${c.training.protocol.bestEpoch}), Adam lr ${c.training.protocol.lr}, batch ${c.training.protocol.batchSize}`]),
    h('h3', {}, 'Threshold'),
    h('p', {}, `${c.threshold.value.toFixed(4)} (${percent(c.threshold.value)}). ${c.threshold.howChosen}`),
    h('h3', {}, 'Test results'),
    test
      ? h('div', {},
          dl(['AUC', test.auc ? `${test.auc.value.toFixed(3)}${test.auc.ci95 ? ` (95% CI ${test.auc.ci95[0].toFixed(3)}–${test.auc.ci95[1].toFixed(3)}, ${test.auc.method.replace(' 95% interval', '')})` : ''}` : 'not measurable'],
            ['Sensitivity', proportionText(test.operatingPoint.sensitivity)], ['Specificity', proportionText(test.operatingPoint.specificity)]),
          h('p', {}, operatingPointSentence(test.operatingPoint)))
      : h('p', {}, 'This run has no test results.'),
    h('h3', {}, 'Intended use'),
    h('p', { class: 'intended' }, c.intendedUse),
    h('h3', {}, 'Limitations'),
    h('ul', {}, ...c.limitations.map((l) => h('li', {}, l))),
    h('h3', {}, 'Privacy'),
    h('p', {}, c.privacy));
  $('limit-bytes').textContent = bytesText(c.limits.maxUploadBytes);
  if (c.model.warning) {
    const b = $('weights-warning');
    b.textContent = c.model.warning;
    b.hidden = false;
  }
}

async function loadCard(): Promise<void> {
  try {
    const res = await fetch('/api/model');
    if (!res.ok) throw new Error(`${res.status}`);
    card = (await res.json()) as ApiModelCard;
    renderCard(card);
  } catch {
    replaceChildren($('card-body'), h('p', { class: 'error', role: 'alert' }, 'The model card could not be loaded: is the server running?'));
  }
}

function setUp(): void {
  const input = $<HTMLInputElement>('file-input');
  input.addEventListener('change', () => {
    const files = Array.from(input.files ?? []);
    void analyse(files).finally(() => { input.value = ''; });
  });
  const zone = $('dropzone');
  const over = (on: boolean) => (e: DragEvent) => { e.preventDefault(); zone.classList.toggle('dragging', on); };
  zone.addEventListener('dragenter', over(true));
  zone.addEventListener('dragover', over(true));
  zone.addEventListener('dragleave', over(false));
  zone.addEventListener('drop', (e) => {
    over(false)(e);
    void analyse(Array.from(e.dataTransfer?.files ?? []));
  });
  // a file dropped outside the zone must not navigate away from the page
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
  void loadCard();
}

setUp();
