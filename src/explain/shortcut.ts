/**
 * Shortcut check (DeGrave et al. 2021, Nat. Mach. Intell.; Maguolo & Nanni 2021): does the model
 * still separate the classes when it cannot see the lungs? A COVID detector that keeps a high AUC
 * with the lung fields hidden is reading something else (text labels, markers, borders, source
 * differences). Masked images go through the model's ordinary feature extraction with an
 * Augmenter whose key names the mask, so their features are cached like any other.
 */
import { delongAuc, rocAuc } from '../evaluate/index.js';
import type { Augmenter } from '../features/extract.js';
import type { GreyImage } from '../input/grey-image.js';
import type { PreprocessConfig } from '../preprocess/config.js';
import { LUNG_REGION, maskImage, type LungRegion, type MaskMode } from './lung-region.js';

/** The flag rule, stated once. */
export const SHORTCUT_RULE = Object.freeze({
  /** Flag when the lower end of the lungs-hidden AUC's 95% interval is above 0.5 by at least this… */
  hiddenAboveChanceBy: 0.05,
  /** …or the lungs-hidden AUC is at least this… */
  hiddenAucAtLeast: 0.8,
  /** …or hiding the lungs lowers the AUC by less than this. */
  minDrop: 0.05,
  text: 'flagged when the model still separates the classes with the lung region hidden: the lower end of that AUC\'s 95% interval lies at least 0.05 above chance (0.5), or that AUC is >= 0.80, or it is less than 0.05 below the AUC on the full images',
});

/** The verdict of the flag rule, with the reasons in words. */
export interface ShortcutFlag {
  flagged: boolean;
  reasons: string[];
}

/** Applies SHORTCUT_RULE to the full-image AUC and the AUC with the lungs hidden. */
export function shortcutFlag(full: AucEntry, hidden: AucEntry): ShortcutFlag {
  const reasons: string[] = [];
  const ci = hidden.lower !== null ? ` (95% CI ${hidden.lower.toFixed(3)}–${hidden.upper!.toFixed(3)})` : '';
  if (hidden.lower !== null && hidden.lower >= 0.5 + SHORTCUT_RULE.hiddenAboveChanceBy) {
    reasons.push(`with the lungs hidden the model still separates COVID from non-COVID better than chance: AUC ${hidden.auc.toFixed(3)}${ci}, whose whole interval lies above 0.5; it is reading something outside the lungs (markers, borders, the source hospital)`);
  } else if (hidden.auc >= SHORTCUT_RULE.hiddenAucAtLeast) {
    reasons.push(`AUC with the lungs hidden is ${hidden.auc.toFixed(3)}${ci} (>= ${SHORTCUT_RULE.hiddenAucAtLeast})`);
  }
  const drop = full.auc - hidden.auc;
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

/** AUC with its DeLong interval when both classes have two or more images. */
export function aucEntry(probs: Float64Array, labels: Uint8Array): AucEntry {
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
