/**
 * The deep-covid page: upload chest X-rays, show P(COVID), the label at the run's threshold and
 * what that threshold means, with a heatmap overlay, next to the run's model card.
 * No inline scripts or styles (the server's CSP forbids them); text is set as text, never HTML.
 */
import { isAssessed, type ApiAssessed, type ApiError, type ApiHeatmap, type ApiModelCard, type ApiPrediction } from '../server/api-types.js';
import { h, replaceChildren } from './dom.js';
import { predictiveValuesAt } from '../evaluate/predictive-values.js';
import { gateWarningBox, refusalBox } from './gate-view.js';
import { bytesText, mapValueText, operatingPointSentence, operatingPointShort, percent, predictiveValuesSentence, probabilityText, proportionText, thresholdSentence, verdictText } from './wording.js';

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

type Method = 'cam' | 'occlusion';
type Scale = 'own' | 'fixed';
type View = 'crop' | 'full';

/** Whether the page is as narrow as a phone (then long explanations start folded). */
function narrow(): boolean {
  return window.matchMedia('(max-width: 700px)').matches;
}

/** One result card: created at once in a pending state, filled in when the answer comes. The verdict comes first. */
class ResultCard {
  readonly li: HTMLLIElement;
  private readonly id = `r${nextId++}`;
  private result: ApiPrediction | null = null;
  private method: Method = 'cam';
  private scale: Scale = 'own';
  private view: View = 'crop';
  private heatImg: HTMLImageElement | null = null;
  private viewerEl: HTMLElement | null = null;
  private baseImg: HTMLImageElement | null = null;
  private outline: HTMLElement | null = null;
  private barEl: HTMLElement | null = null;
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
    if (!isAssessed(r)) {
      this.refused(r);
      return;
    }
    this.result = r;
    this.li.setAttribute('aria-busy', 'false');
    this.li.classList.toggle('flagged', r.label === 'covid');
    replaceChildren(this.li,
      h('h3', { id: `${this.id}-title`, class: 'result-title' }, r.file),
      h('div', { class: 'result-grid' }, this.summary(r), this.viewer(r)));
    this.applyView();
    this.applyHeat();
  }

  /** The gate refused the image: no probability and no heatmap, only the reasons, first. */
  private refused(r: ApiPrediction): void {
    this.li.setAttribute('aria-busy', 'false');
    this.li.classList.add('result-refused');
    replaceChildren(this.li,
      h('h3', { id: `${this.id}-title`, class: 'result-title' }, r.file),
      refusalBox(r.gate.reasons, r.notice));
  }

  private radios<T extends string>(name: string, label: string, options: [T, string][], current: T, pick: (v: T) => void): HTMLElement {
    return h('div', { class: 'choices', role: 'radiogroup', 'aria-label': label }, h('span', { class: 'choices-label', 'aria-hidden': 'true' }, `${label}:`), h('span', { class: 'choice-options' }, ...options.map(([v, text]) => {
      const input = h('input', { type: 'radio', name: `${this.id}-${name}`, id: `${this.id}-${name}-${v}`, value: v, checked: v === current });
      input.addEventListener('change', () => { if (input.checked) pick(v); });
      return h('span', { class: 'choice' }, input, h('label', { for: `${this.id}-${name}-${v}` }, text));
    })));
  }

  private viewer(r: ApiPrediction): HTMLElement {
    this.baseImg = h('img', { class: 'base', alt: '' });
    this.heatImg = h('img', { class: 'heat', alt: '', 'data-testid': 'heatmap' });
    this.outline = h('div', { class: 'crop-outline', 'aria-hidden': 'true' });
    this.viewerEl = h('div', { class: 'viewer', 'data-testid': 'viewer' }, this.baseImg, this.heatImg, this.outline);
    const toggle = h('input', { type: 'checkbox', id: `${this.id}-show`, checked: true });
    toggle.addEventListener('change', () => { this.showHeat = toggle.checked; this.applyHeat(); });
    const slider = h('input', { type: 'range', id: `${this.id}-opacity`, min: '0', max: '100', step: '5', value: String(this.opacity * 100), 'aria-describedby': `${this.id}-opacity-value` });
    const out = h('output', { id: `${this.id}-opacity-value`, for: `${this.id}-opacity` }, percent(this.opacity, 0));
    slider.addEventListener('input', () => { this.opacity = Number(slider.value) / 100; out.textContent = percent(this.opacity, 0); this.applyHeat(); });
    this.barEl = h('span', { class: 'bar-colours', 'aria-hidden': 'true' });
    const occButton = h('button', { type: 'button', class: 'secondary', id: `${this.id}-occ` }, r.heatmaps.occlusion ? 'Occlusion map ready' : 'Compute occlusion map (slower)');
    if (r.heatmaps.occlusion) occButton.disabled = true;
    occButton.addEventListener('click', () => void this.computeOcclusion(occButton));
    return h('figure', { class: 'viewer-figure', 'aria-labelledby': `${this.id}-view-caption` },
      h('p', { class: 'view-caption', id: `${this.id}-view-caption`, 'data-testid': 'view-caption' }),
      this.viewerEl,
      h('div', { class: 'colour-bar', id: `${this.id}-bar` },
        h('span', { class: 'bar-low' }), this.barEl, h('span', { class: 'bar-high' }),
        h('span', { class: 'bar-note' })),
      h('fieldset', { class: 'controls' }, h('legend', {}, 'Picture'),
        this.radios<View>('view', 'View', [['crop', `${r.crop.width} px crop`], ['full', 'Full image']], this.view, (v) => { this.view = v; this.applyView(); this.applyHeat(); }),
        this.radios<Method>('m', 'Map', [['cam', 'CAM'], ['occlusion', 'Occlusion']], this.method, (m) => { this.method = m; this.applyHeat(); }),
        this.radios<Scale>('scale', 'Scale', [['own', 'Own maximum'], ['fixed', 'Fixed']], this.scale, (v) => { this.scale = v; this.applyHeat(); }),
        h('div', { class: 'control-row' }, toggle, h('label', { for: `${this.id}-show` }, 'Show heatmap')),
        h('div', { class: 'control-row' }, h('label', { for: `${this.id}-opacity` }, 'Opacity'), slider, out),
        occButton),
      h('p', { class: 'meaning', id: `${this.id}-meaning` }));
  }

  private summary(r: ApiAssessed): HTMLElement {
    const op = r.operatingPoint;
    return h('div', { class: 'summary' },
      gateWarningBox(r.gate.reasons),
      h('p', { class: 'probability' },
        h('span', { class: 'probability-label' }, 'P(COVID)'),
        h('span', { class: 'probability-value', 'data-testid': 'probability', 'data-probability': String(r.probability) }, probabilityText(r.probability))),
      h('p', { class: `verdict ${r.label === 'covid' ? 'verdict-flagged' : 'verdict-clear'}`, 'data-testid': 'label', 'data-label': r.label }, verdictText(r)),
      r.model.warning ? h('p', { class: 'banner-inline' }, r.model.warning) : null,
      h('p', { class: 'op-short' }, op ? operatingPointShort(op) : 'This run has no test results, so the threshold\'s error rates are unknown.', ' ', h('a', { href: '#how-to-read', class: 'how-link' }, 'How to read this')),
      h('p', { class: 'notice' }, r.notice),
      h('details', { class: 'facts-box' },
        h('summary', {}, 'Image and timing details'),
        h('ul', { class: 'facts' },
          h('li', {}, `Image: ${r.image.format.toUpperCase()}, ${r.image.width} x ${r.image.height} pixels, ${r.image.bitDepth}-bit`),
          h('li', {}, `Model: ${r.model.backbone}, run ${r.model.runId} (${r.model.weights} weights)`),
          h('li', {}, `Exact P(COVID): ${r.probability.toFixed(6)}; threshold ${r.threshold.toFixed(6)}`),
          h('li', {}, `Time: ${Math.round(r.timings.totalMs)} ms on the server (decode ${Math.round(r.timings.decodeMs)}, model ${Math.round(r.timings.inferenceMs)}${r.timings.occlusionMs !== null ? `, occlusion ${Math.round(r.timings.occlusionMs)}` : ''} ms)`))));
  }

  private current(): ApiHeatmap | null {
    return this.result ? this.result.heatmaps[this.method] : null;
  }

  /** The crop, or the full image with the crop (and the heatmap on it) placed where the model took it. */
  private applyView(): void {
    const r = this.result;
    const v = this.viewerEl;
    const base = this.baseImg;
    const heat = this.heatImg;
    const box = this.outline;
    if (!r || !v || !base || !heat || !box) return;
    const caption = this.li.querySelector('.view-caption');
    // CSSOM, not style attributes: allowed by the page's CSP
    if (this.view === 'crop') {
      base.src = png(r.crop.png);
      base.alt = `The ${r.crop.width} x ${r.crop.height} pixel grey crop of ${r.file} that the model saw`;
      v.style.aspectRatio = `${r.crop.width} / ${r.crop.height}`;
      for (const el of [heat, box]) Object.assign(el.style, { left: '0%', top: '0%', width: '100%', height: '100%' });
      box.hidden = true;
      if (caption) caption.textContent = `What the model saw: the centre ${r.crop.width} x ${r.crop.height} px crop of the image (resized so its shorter side is ${r.crop.width} px).`;
    } else {
      const f = r.fullImage;
      base.src = `data:image/jpeg;base64,${f.jpeg}`;
      base.alt = `The whole image ${r.file}, ${r.image.width} x ${r.image.height} pixels`;
      v.style.aspectRatio = `${f.width} / ${f.height}`;
      const pc = (x: number) => `${(100 * x).toFixed(3)}%`;
      for (const el of [heat, box]) Object.assign(el.style, { left: pc(f.cropBox.left), top: pc(f.cropBox.top), width: pc(f.cropBox.width), height: pc(f.cropBox.height) });
      box.hidden = false;
      if (caption) caption.textContent = `The whole image (${r.image.width} x ${r.image.height} px). The dashed box is the part the model saw; the heatmap covers only that part.`;
    }
  }

  private applyHeat(): void {
    const heat = this.current();
    const img = this.heatImg;
    if (!img || !this.result) return;
    const meaning = this.li.querySelector('.meaning');
    const bar = this.li.querySelector<HTMLElement>('.colour-bar');
    if (heat) {
      const src = png(this.scale === 'fixed' ? heat.fixed.heatmapPng : heat.heatmapPng);
      const key = `${heat.method}-${this.scale}`;
      if (img.dataset.key !== key) {
        img.src = src;
        img.dataset.key = key;
        img.dataset.method = heat.method;
        img.dataset.scale = this.scale;
      }
      img.hidden = !this.showHeat;
      img.style.opacity = String(this.opacity);
      if (this.barEl) this.barEl.style.opacity = String(this.opacity);
      if (bar) {
        bar.hidden = !this.showHeat;
        const max = this.scale === 'fixed' ? heat.fixed.max : heat.max;
        bar.querySelector('.bar-low')!.textContent = '0';
        bar.querySelector('.bar-high')!.textContent = `${mapValueText(max)} ${heat.unit}`;
        bar.querySelector('.bar-note')!.textContent = this.scale === 'fixed'
          ? `Fixed scale, the same for every image. This map's maximum is ${mapValueText(heat.max)}.`
          : 'Scaled to this image\'s own maximum: compare images on the fixed scale.';
      }
      if (meaning) meaning.textContent = `${heat.method === 'cam' ? 'CAM' : 'Occlusion'}: ${heat.method === 'cam' ? 'where the model looked' : 'what the model relied on'}, not where disease is.`;
    } else {
      img.hidden = true;
      if (bar) bar.hidden = true;
      if (meaning) meaning.textContent = this.method === 'occlusion' ? 'No occlusion map yet: use "Compute occlusion map".' : 'This backbone exposes no feature map, so there is no CAM.';
    }
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
      this.method = 'occlusion';
      this.applyHeat();
      renderHowToRead(this.result);
      announce(`Occlusion map of ${this.file.name} ready.`);
    } catch (err) {
      button.disabled = false;
      button.textContent = 'Compute occlusion map (slower)';
      announce(`Occlusion map of ${this.file.name} failed: ${(err as Error).message}`);
    }
  }
}

/** The long explanations, written once below the results (not repeated in every card). */
function renderHowToRead(r: ApiPrediction): void {
  const box = $<HTMLDetailsElement>('how-to-read');
  const op = r.operatingPoint;
  const heat = (m: 'cam' | 'occlusion') => r.heatmaps[m] ?? null;
  const meanings = (['cam', 'occlusion'] as const).map((m) => heat(m)).filter((x): x is ApiHeatmap => x !== null);
  replaceChildren($('how-to-read-body'),
    h('h3', {}, 'The threshold'),
    h('p', {}, thresholdSentence(r.threshold, card)),
    op ? h('p', { 'data-testid': 'operating-point' }, operatingPointSentence(op)) : h('p', {}, 'This run has no test results, so the threshold\'s error rates are unknown.'),
    h('h3', {}, 'The heatmaps'),
    ...meanings.map((m) => h('p', {}, m.meaning)),
    r.heatmaps.occlusion ? null : h('p', {}, 'Occlusion maps are computed on request ("Compute occlusion map"); their meaning appears here then.'),
    h('p', {}, `Colours: ${meanings[0]?.colourMap ?? 'viridis'}. By default each map is scaled to its own maximum, so even a faint map reaches yellow; choose the fixed colour scale to compare images: it is the same for every image, and the colour bar under each picture gives its values.`),
    h('h3', {}, 'The picture'),
    h('p', {}, `The model sees only the centre square of each image, shrunk to ${r.crop.width} x ${r.crop.height} pixels; the heatmap covers that square. "Full image" shows the whole X-ray with the square marked.`),
    h('p', { class: 'notice' }, r.notice));
  if (box.hidden) {
    box.hidden = false;
    box.open = !narrow();
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
      renderHowToRead(r);
      done++;
      const what = isAssessed(r)
        ? `P(COVID) ${probabilityText(r.probability)}, ${r.label === 'covid' ? 'flagged' : 'not flagged'} at the threshold of ${percent(r.threshold)}`
        : `not assessed: ${(r.gate.reasons.find((x) => x.level === 'refuse')?.message ?? 'refused by the input gate').replace(/\.$/, '')}`;
      announce(`${r.file}: ${what}.${files.length > 1 ? ` ${i + 1} of ${files.length} done.` : ''}`);
      // on a small screen the first verdict is brought into view (after the status line above it has grown), without moving a visible one
      if (done === 1) cards[i].li.querySelector('.verdict')?.scrollIntoView({ block: 'nearest' });
    } catch (err) {
      cards[i].fail((err as Error).message);
      announce(`${files[i].name} could not be analysed; the reason is in its card.`);
    }
  }
  if (files.length > 1) announce(`Finished: ${done} of ${files.length} files analysed.`);
}

/** A folding section of the model card, its heading kept inside the summary for navigation. */
function section(title: string, open: boolean, ...body: (Node | string | null)[]): HTMLDetailsElement {
  return h('details', { class: 'card-section', open }, h('summary', {}, h('h3', {}, title)), ...body);
}

function renderCard(c: ApiModelCard): void {
  const counts = c.training.counts;
  const part = (p: { n: number; covid: number }) => `${p.n} images (${p.covid} COVID, ${p.n - p.covid} non-COVID)`;
  const dl = (...rows: [string, Node | string][]) => h('dl', {}, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  const test = c.test;
  const wide = !narrow();
  replaceChildren($('card-body'),
    c.model.warning ? h('p', { class: 'banner-inline' }, c.model.warning) : null,
    h('h3', {}, 'Intended use'),
    h('p', { class: 'intended' }, c.intendedUse),
    section('Model and threshold', wide,
      c.ensemble
        ? dl(['Ensemble', c.runId], ['Members', c.ensemble.members.map((m) => `${m.backbone} (run ${m.runId}, ${m.weights} weights)`).join('; ')],
          ['Combined', `mean of the members' ${c.ensemble.combine === 'logit' ? 'log-odds' : 'probabilities'}; each member is a frozen backbone with its own new head`])
        : dl(['Run', c.runId], ['Backbone', `${c.backbone.name} (frozen), new ${c.backbone.head} head`], ['Weights', `${c.model.weights}: ${c.model.weightsNote}`]),
      h('p', {}, `Threshold ${c.threshold.value.toFixed(4)} (${percent(c.threshold.value)}). ${c.threshold.howChosen}`)),
    section('Test results', wide,
      test
        ? h('div', {},
            dl(['AUC', test.auc ? `${test.auc.value.toFixed(3)}${test.auc.ci95 ? ` (95% CI ${test.auc.ci95[0].toFixed(3)}–${test.auc.ci95[1].toFixed(3)}, ${test.auc.method.replace(' 95% interval', '')})` : ''}` : 'not measurable'],
              ['Sensitivity', proportionText(test.operatingPoint.sensitivity)], ['Specificity', proportionText(test.operatingPoint.specificity)]),
            h('p', {}, operatingPointSentence(test.operatingPoint)))
        : h('p', {}, 'This run has no test results.')),
    test?.predictiveValues ? section('At your prevalence', wide, ...prevalenceBox(test)) : null,
    section('Training data', false,
      dl(['Dataset', `${c.training.dataset} (${c.training.origin})`], ['Training', `${part(counts.train)}; ${counts.trainAugmented.n} after augmenting COVID images x${c.training.protocol.augmentFactor}`],
        ['Validation', `${part(counts.validation)}, split by ${c.training.validationSplitBy}`], ['Test', counts.test ? part(counts.test) : 'none'],
        ['Epochs', `${c.training.protocol.epochs} (best: ${c.training.protocol.bestEpoch}), Adam lr ${c.training.protocol.lr}, batch ${c.training.protocol.batchSize}`])),
    section('Known hazards', false, h('ul', {}, ...c.hazards.map((z) => h('li', {}, z.title ? h('strong', {}, `${z.title}. `) : null, z.text)))),
    section('Limitations', false, h('ul', {}, ...c.limitations.map((l) => h('li', {}, l)))),
    section('Privacy', false, h('p', {}, c.privacy)));
  $('limit-bytes').textContent = bytesText(c.limits.maxUploadBytes);
  if (c.model.warning) {
    const b = $('weights-warning');
    b.textContent = c.model.warning;
    b.hidden = false;
  }
}

/** The calibration sentence and a prevalence box whose PPV/NPV are computed here, from the test set's counts at the threshold. */
function prevalenceBox(test: NonNullable<ApiModelCard['test']>): Node[] {
  const c = test.operatingPoint.confusion;
  const input = h('input', { id: 'prevalence-input', type: 'number', min: '0.1', max: '99.9', step: '0.1', value: '5', inputmode: 'decimal' });
  const out = h('p', { id: 'prevalence-output', 'aria-live': 'polite', 'data-testid': 'prevalence-output' });
  const update = () => {
    const pct = Number(input.value);
    out.textContent = Number.isFinite(pct) && pct > 0 && pct < 100
      ? predictiveValuesSentence(predictiveValuesAt(c, pct / 100))
      : 'Give a prevalence between 0.1% and 99.9%.';
  };
  input.addEventListener('input', update);
  update();
  return [
    h('p', { 'data-testid': 'calibration-note' }, test.calibrationNote),
    h('p', { class: 'prevalence-row' }, h('label', { for: 'prevalence-input' }, 'COVID-19 prevalence among the patients X-rayed (%)'), ' ', input),
    out,
    h('p', { class: 'method' }, `How: ${test.predictiveValues!.method}.`),
  ];
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
