/**
 * Shortcut check (DeGrave et al. 2021, Nat. Mach. Intell.; Maguolo & Nanni 2021): does the model
 * still separate the classes when it cannot see the lungs? A COVID detector that keeps a high AUC
 * with the lung fields hidden is reading something else (text labels, markers, borders, source
 * differences). Masked images go through the model's ordinary feature extraction with an
 * Augmenter whose key names the mask, so their features are cached like any other.
 */
import { readDataset, splitOf, type DatasetItem } from '../dataset/read.js';
import { DatasetError } from '../errors.js';
import type { FeatureCache } from '../features/cache.js';
import type { LoadLimits } from '../input/load-image.js';
import { LUNG_REGION, regionMask } from '../explain/lung-region.js';
import { aucEntry, LungMaskAugmenter, massOutside, SHORTCUT_RULE, shortcutFlag, type ShortcutReport } from '../explain/shortcut.js';
import { loadModel, type CovidModel, type ModelLoadOptions, type RequestScores } from '../model/index.js';
import type { ProgressListener } from '../util/progress.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { RUN_FILES } from '../protocol/run-folder.js';
import { join } from 'node:path';

/** Options of `shortcutCheck`. */
export interface ShortcutOptions extends ModelLoadOptions {
  run: string;
  data: string;
  manifest?: string | false;
  split?: string;
  /** Feature cache; none by default. */
  cache?: FeatureCache | null;
  limits?: Partial<LoadLimits>;
  /** Grey level of the mask (default: each image's mean grey). */
  fill?: number;
  batchSize?: number;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
  /** Also store the report in the run folder (shortcut-check.json), where reports find it (default false). */
  save?: boolean;
}

/**
 * Runs the shortcut check of a trained run on one split of a dataset: AUC on the full images,
 * with the lung region hidden, and with only the lung region kept, plus where the CAM mass lies.
 */
export async function shortcutCheck(opts: ShortcutOptions): Promise<ShortcutReport> {
  const split = opts.split ?? 'test';
  const model = await loadModel(opts.run, opts);
  let report: ShortcutReport;
  try {
    report = await check(model, opts, split);
  } finally {
    await model.release();
  }
  if (opts.save) await writeFileAtomic(join(model.dir, RUN_FILES.shortcutCheck), JSON.stringify(report, null, 1) + '\n');
  return report;
}

async function check(model: CovidModel, opts: ShortcutOptions, split: string): Promise<ShortcutReport> {
  const run = model.runs[0];
  const cfg = model.preprocess;
  const common = { cache: opts.cache, limits: opts.limits, onProgress: opts.onProgress, signal: opts.signal, batchSize: opts.batchSize };
  const name = model.info.backbone;
  const ds = await readDataset(opts.data, { positiveClass: run.record.config.positiveClass, manifest: opts.manifest });
  const items: DatasetItem[] = split === 'all' ? ds.items : splitOf(ds, split);
  if (items.length === 0) throw new DatasetError(`${ds.root} has no images in split "${split}": choose an existing split, or "all"`);
  const plain = items.map((it) => ({ file: it.file }));
  const masked = items.map((it) => ({ file: it.file, variant: 1 }));
  const full = await model.scoreRequests(plain, { ...common, label: `${name} ${split} full images` });
  const hidden = await model.scoreRequests(masked, { ...common, augmenter: new LungMaskAugmenter('hide-lungs', cfg, opts.fill), label: `${name} ${split} lungs hidden` });
  const only = await model.scoreRequests(masked, { ...common, augmenter: new LungMaskAugmenter('lungs-only', cfg, opts.fill), label: `${name} ${split} lungs only` });
  const mask = regionMask(cfg.crop);
  // each image's CAM is reduced to its share outside the lungs as it comes: holding every map
  // (a MobileNetV2 map is 245 KiB, its crop-size CAM 200 KiB) grew memory by ~0.4 MiB per test image
  const outside = await camShares(model, plain, mask, { ...common, label: `${name} ${split} feature maps` });
  const idx: number[] = [];
  for (let i = 0; i < items.length; i++) if (full.ok[i] && hidden.ok[i] && only.ok[i] && outside.ok[i]) idx.push(i);
  const failures = new Map<string, string>();
  for (const r of [full, hidden, only]) for (const f of r.failures) if (!failures.has(f.file)) failures.set(f.file, f.message);
  const labels = Uint8Array.from(idx, (i) => items[i].label);
  const positives = labels.reduce((s, v) => s + v, 0);
  if (positives === 0 || positives === labels.length) {
    throw new DatasetError(`split "${split}" of ${ds.root} has ${positives === 0 ? 'no COVID' : 'only COVID'} images that could be read: an AUC needs both classes`);
  }
  const pick = (r: RequestScores) => Float64Array.from(idx, (i) => r.probs[i]);
  const pFull = pick(full);
  const pHidden = pick(hidden);
  const pOnly = pick(only);

  let inside = 0;
  for (const m of mask) inside += m;
  let sumAll = 0, nAll = 0, sumCovid = 0, nCovid = 0;
  for (let k = 0; k < idx.length; k++) {
    const share = outside.share[idx[k]];
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
    run: model.dir,
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
    flag: { ...shortcutFlag(aucFull, aucHidden), rule: SHORTCUT_RULE.text },
    failures: [...failures].map(([file, message]) => ({ file, message })),
  };
}


/** CAM requests at a time: bounds the maps and CAMs in memory whatever the split's size. */
const CAM_CHUNK = 200;

/**
 * The CAM mass share outside `mask` of each request (NaN where undefined), computed chunk by chunk
 * so that only one chunk's maps and CAMs are held; `ok` is 0 where the request failed. Progress is
 * reported as one operation over all requests.
 */
async function camShares(model: CovidModel, requests: { file: string }[], mask: Uint8Array, opts: { cache?: FeatureCache | null; limits?: Partial<LoadLimits>; onProgress?: ProgressListener; signal?: AbortSignal; batchSize?: number; label: string }): Promise<{ share: Float64Array; ok: Uint8Array }> {
  const n = requests.length;
  const share = new Float64Array(n).fill(NaN);
  const ok = new Uint8Array(n);
  let cachedBefore = 0;
  for (let start = 0; start < n; start += CAM_CHUNK) {
    const chunk = requests.slice(start, start + CAM_CHUNK);
    const last = start + chunk.length >= n;
    let cachedHere = 0;
    const onProgress: ProgressListener | undefined = opts.onProgress && ((e) => {
      cachedHere = e.fromCache ?? 0;
      if ((e.phase === 'start' && start > 0) || (e.phase === 'end' && !last)) return;
      opts.onProgress!({ ...e, done: start + e.done, total: n, fromCache: cachedBefore + cachedHere });
    });
    const cams = await model.camRequests(chunk, { ...opts, onProgress });
    cachedBefore += cachedHere;
    cams.forEach((cam, k) => {
      if (!cam) return;
      ok[start + k] = 1;
      share[start + k] = massOutside(cam.data, mask);
    });
  }
  return { share, ok };
}
