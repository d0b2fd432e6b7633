/**
 * Shortcut check (DeGrave et al. 2021, Nat. Mach. Intell.; Maguolo & Nanni 2021): does the model
 * still separate the classes when it cannot see the lungs? A COVID detector that keeps a high AUC
 * with the lung fields hidden is reading something else (text labels, markers, borders, source
 * differences). Masked images go through the ordinary feature extraction with an Augmenter whose
 * key names the mask, so their features are cached like any other.
 */
import type { BackboneOptions } from '../backbone/backbone.js';
import { readDataset, splitOf, type DatasetItem } from '../dataset/read.js';
import { DatasetError } from '../errors.js';
import { delongAuc, rocAuc } from '../evaluate/index.js';
import type { FeatureCache } from '../features/cache.js';
import { extractFeatures, type Augmenter, type ExtractResult } from '../features/extract.js';
import { predictProba } from '../head/index.js';
import type { GreyImage } from '../input/grey-image.js';
import type { LoadLimits } from '../input/load-image.js';
import type { PreprocessConfig } from '../preprocess/config.js';
import { readRunDir } from '../protocol/run-dir.js';
import { loadRunBackbone } from '../protocol/run-model.js';
import { camFromFeatureMap } from './cam.js';
import { resizeBilinear } from './heatmap.js';
import { LUNG_REGION, maskImage, regionMask, type LungRegion, type MaskMode } from './lung-region.js';

/** The flag rule, stated once. */
export const SHORTCUT_RULE = Object.freeze({
  /** Flag when the AUC with the lungs hidden is at least this… */
  hiddenAucAtLeast: 0.8,
  /** …or when hiding the lungs lowers the AUC by less than this. */
  minDrop: 0.05,
  text: 'flagged when AUC with the lung region hidden >= 0.80, or when it is less than 0.05 below the AUC on the full images',
});

/** The verdict of the flag rule. */
export interface ShortcutFlag {
  flagged: boolean;
  reasons: string[];
}

/** Applies SHORTCUT_RULE to the full-image AUC and the AUC with the lungs hidden. */
export function shortcutFlag(aucFull: number, aucHidden: number): ShortcutFlag {
  const reasons: string[] = [];
  if (aucHidden >= SHORTCUT_RULE.hiddenAucAtLeast) reasons.push(`AUC with the lungs hidden is ${aucHidden.toFixed(3)} (>= ${SHORTCUT_RULE.hiddenAucAtLeast})`);
  const drop = aucFull - aucHidden;
  if (drop < SHORTCUT_RULE.minDrop) reasons.push(`hiding the lungs lowers the AUC by only ${drop.toFixed(3)} (< ${SHORTCUT_RULE.minDrop})`);
  return { flagged: reasons.length > 0, reasons };
}

/** Masks every image for the shortcut check (variant 1 of each image; the key names mask and fill). */
export class LungMaskAugmenter implements Augmenter {
  readonly key: string;
  constructor(
    readonly mode: MaskMode,
    private readonly cfg: PreprocessConfig,
    private readonly fill?: number,
    private readonly region: LungRegion = LUNG_REGION,
  ) {
    this.key = `shortcut:${mode}:${region.name}:fill=${fill ?? 'mean'}`;
  }

  apply(img: GreyImage): GreyImage {
    return maskImage(img, this.mode, this.cfg, this.fill, this.region);
  }
}

/** AUC with its DeLong 95 % CI (null when a class has fewer than two images). */
export interface AucEntry {
  auc: number;
  lower: number | null;
  upper: number | null;
}

/** Result of a shortcut check. */
export interface ShortcutReport {
  run: string;
  data: string;
  split: string;
  n: number;
  positives: number;
  region: { name: string; description: string; note: string; areaShare: number };
  auc: { full: AucEntry; lungsHidden: AucEntry; lungsOnly: AucEntry };
  /** Share of the positive CAM mass outside the lung region (mean over images with any positive mass). */
  camOutside: { all: number; covid: number; images: number; areaShareOutside: number };
  flag: ShortcutFlag & { rule: string };
  failures: { file: string; message: string }[];
}

/** Options of `shortcutCheck`. */
export interface ShortcutOptions {
  run: string;
  data: string;
  manifest?: string | false;
  split?: string;
  runtime?: BackboneOptions;
  modelPath?: string;
  cache: FeatureCache | null;
  limits?: Partial<LoadLimits>;
  /** Grey level of the mask (default: each image's mean grey). */
  fill?: number;
  batchSize?: number;
  quiet?: boolean;
}

function aucEntry(probs: Float64Array, labels: Uint8Array): AucEntry {
  const auc = rocAuc(probs, labels);
  let pos = 0;
  for (const l of labels) pos += l;
  if (pos < 2 || labels.length - pos < 2) return { auc, lower: null, upper: null };
  const d = delongAuc(probs, labels);
  return { auc, lower: d.lower, upper: d.upper };
}

/**
 * Share of the positive part of a CAM (upsampled to the crop) that falls outside the region mask.
 * NaN when the map has no positive value.
 */
export function massOutside(cam: Float32Array, mask: Uint8Array): number {
  let inside = 0;
  let outside = 0;
  for (let i = 0; i < cam.length; i++) {
    const v = cam[i];
    if (v <= 0) continue;
    if (mask[i]) inside += v;
    else outside += v;
  }
  const total = inside + outside;
  return total > 0 ? outside / total : NaN;
}

function rows(res: ExtractResult, idx: number[]): Float32Array {
  const dim = res.dim;
  const out = new Float32Array(idx.length * dim);
  idx.forEach((src, dst) => out.set(res.features!.subarray(src * dim, (src + 1) * dim), dst * dim));
  return out;
}

/**
 * Runs the shortcut check of a trained run on one split of a dataset: AUC on the full images,
 * with the lung region hidden, and with only the lung region kept, plus where the CAM mass lies.
 */
export async function shortcutCheck(opts: ShortcutOptions): Promise<ShortcutReport> {
  const split = opts.split ?? 'test';
  const run = await readRunDir(opts.run);
  const ds = await readDataset(opts.data, { positiveClass: run.record.config.positiveClass, manifest: opts.manifest });
  const items: DatasetItem[] = split === 'all' ? ds.items : splitOf(ds, split);
  if (items.length === 0) throw new DatasetError(`${ds.root} has no images in split "${split}": pass --split with an existing split, or "all"`);
  const { backbone, tensor } = await loadRunBackbone(run, opts.runtime, opts.modelPath);
  const cfg = backbone.manifest.preprocess;
  const common = { cache: opts.cache, limits: opts.limits, quiet: opts.quiet, batchSize: opts.batchSize };
  let full: ExtractResult, hidden: ExtractResult, only: ExtractResult, maps: ExtractResult;
  let mapShape: [number, number, number];
  try {
    const plain = items.map((it) => ({ file: it.file }));
    const masked = items.map((it) => ({ file: it.file, variant: 1 }));
    full = await extractFeatures(backbone, plain, { ...common, tensor, label: `${backbone.name} ${split} full images` });
    hidden = await extractFeatures(backbone, masked, { ...common, tensor, augmenter: new LungMaskAugmenter('hide-lungs', cfg, opts.fill), label: `${backbone.name} ${split} lungs hidden` });
    only = await extractFeatures(backbone, masked, { ...common, tensor, augmenter: new LungMaskAugmenter('lungs-only', cfg, opts.fill), label: `${backbone.name} ${split} lungs only` });
    maps = tensor === 'map' ? full : await extractFeatures(backbone, plain, { ...common, tensor: 'map', label: `${backbone.name} ${split} feature maps` });
    mapShape = (await backbone.featureShapes()).map!;
  } finally {
    await backbone.release();
  }
  const idx: number[] = [];
  for (let i = 0; i < items.length; i++) if (full.ok[i] && hidden.ok[i] && only.ok[i] && maps.ok[i]) idx.push(i);
  const failures = new Map<string, string>();
  for (const r of [full, hidden, only, maps]) for (const f of r.failures) if (!failures.has(f.file)) failures.set(f.file, f.message);
  const labels = Uint8Array.from(idx, (i) => items[i].label);
  const positives = labels.reduce((s, v) => s + v, 0);
  if (positives === 0 || positives === labels.length) {
    throw new DatasetError(`split "${split}" of ${ds.root} has ${positives === 0 ? 'no COVID' : 'only COVID'} images that could be read: an AUC needs both classes`);
  }
  const head = run.head;
  const pFull = predictProba(head, rows(full, idx));
  const pHidden = predictProba(head, rows(hidden, idx));
  const pOnly = predictProba(head, rows(only, idx));

  const crop = cfg.crop;
  const mask = regionMask(crop);
  let inside = 0;
  for (const m of mask) inside += m;
  const mapRows = rows(maps, idx);
  let sumAll = 0, nAll = 0, sumCovid = 0, nCovid = 0;
  for (let k = 0; k < idx.length; k++) {
    const { cam } = camFromFeatureMap(head, mapRows, mapShape, k);
    const share = massOutside(resizeBilinear(cam, crop[1], crop[0]).data, mask);
    if (Number.isNaN(share)) continue;
    sumAll += share;
    nAll++;
    if (labels[k] === 1) {
      sumCovid += share;
      nCovid++;
    }
  }
  const aucFull = aucEntry(pFull, labels);
  const aucHidden = aucEntry(pHidden, labels);
  return {
    run: run.dir,
    data: ds.root,
    split,
    n: idx.length,
    positives,
    region: {
      name: LUNG_REGION.name,
      description: LUNG_REGION.description,
      note: 'the lung region is geometric (fixed ellipses in the crop), not a segmentation of each image',
      areaShare: inside / mask.length,
    },
    auc: { full: aucFull, lungsHidden: aucHidden, lungsOnly: aucEntry(pOnly, labels) },
    camOutside: { all: nAll ? sumAll / nAll : NaN, covid: nCovid ? sumCovid / nCovid : NaN, images: nAll, areaShareOutside: 1 - inside / mask.length },
    flag: { ...shortcutFlag(aucFull.auc, aucHidden.auc), rule: SHORTCUT_RULE.text },
    failures: [...failures].map(([file, message]) => ({ file, message })),
  };
}

/** The report as a plain-text table for the terminal. */
export function formatShortcutReport(r: ShortcutReport): string {
  const ci = (a: AucEntry) => `${a.auc.toFixed(3)}${a.lower === null ? '' : ` (${a.lower.toFixed(3)}–${a.upper!.toFixed(3)})`}`;
  const pct = (x: number) => (Number.isNaN(x) ? 'n/a' : `${(100 * x).toFixed(1)} %`);
  return [
    `Shortcut check of ${r.run} on ${r.data} (${r.split}): ${r.n} images, ${r.positives} COVID`,
    `Lung region: ${r.region.description}.`,
    `Note: ${r.region.note}.`,
    '',
    'images                     AUC (DeLong 95% CI)',
    `full                       ${ci(r.auc.full)}`,
    `lung region hidden         ${ci(r.auc.lungsHidden)}`,
    `only lung region kept      ${ci(r.auc.lungsOnly)}`,
    '',
    `CAM mass outside the lung region: ${pct(r.camOutside.all)} (COVID images ${pct(r.camOutside.covid)}); the region leaves ${pct(r.camOutside.areaShareOutside)} of the crop outside`,
    '',
    `Rule: ${r.flag.rule}.`,
    r.flag.flagged ? `FLAGGED: possible shortcut learning: ${r.flag.reasons.join('; ')}` : 'not flagged: hiding the lungs costs the model its discrimination',
    ...(r.failures.length ? [`${r.failures.length} unreadable file(s) skipped`] : []),
  ].join('\n');
}
