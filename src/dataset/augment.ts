import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { createAugmenter, type AugmentParams } from '../augment/index.js';
import { DatasetError, UsageError } from '../errors.js';
import { loadGreyImage, readSource } from '../input/load-image.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { sha256Hex } from '../util/hash.js';
import { createProgress, type ProgressListener } from '../util/progress.js';
import { MANIFEST_COLUMNS, readManifestRows, writeManifest, type ManifestRow } from './manifest.js';
import { forEachLimit } from './pool.js';
import { comparablePath } from './confine.js';
import { labelKey, labelReader } from './labels.js';
import { readDataset, type DatasetItem } from './read.js';

/** Options of `dataset augment`. */
export interface AugmentDatasetOptions {
  /** Class to augment (default 'covid'). */
  className?: string;
  /** Copies per original including itself: factor 5 writes 4 augmented files (default 5, the paper's). */
  factor?: number;
  /** Only this split (default 'train'; 'all' for every split). */
  split?: string;
  seed?: number;
  params?: Partial<AugmentParams>;
  /** Receives progress events (the library never prints). */
  onProgress?: ProgressListener;
}

/** What `dataset augment` did. */
export interface AugmentDatasetResult {
  originals: number;
  written: number;
  /** Augmented files that already existed (a re-run). */
  existing: number;
  manifestRowsAdded: number;
  manifestCreated: boolean;
}

const AUG_NAME = /\.aug\d+\.png$/i;

/** `<stem>.aug<k>.png` next to the original. */
export function augmentedName(rel: string, k: number): string {
  return `${rel.replace(/\.[^./]+$/, '')}.aug${k}.png`;
}

/**
 * Materialises augmented copies: for every original of a class (and split), variants 1..factor-1
 * from the shared Augmenter (the same pixels the training pipeline's on-the-fly oversampling makes)
 * are written as `<stem>.aug<k>.png` beside it. Originals are untouched; the manifest gains one
 * row per copy with derived_from = the original's file and the original's patient id (it is created
 * from the folders when absent). Re-running writes nothing new and adds no rows.
 */
export async function augmentDataset(dir: string, opts: AugmentDatasetOptions = {}): Promise<AugmentDatasetResult> {
  const factor = opts.factor ?? 5;
  if (!Number.isInteger(factor) || factor < 1) throw new UsageError(`--factor must be a whole number >= 1, got ${factor}`);
  const cls = opts.className ?? 'covid';
  const split = opts.split ?? 'train';
  const ds = await readDataset(dir);
  const manifestPath = join(ds.root, 'manifest.csv');
  const existingManifest = await readManifestRows(manifestPath);
  let rows: ManifestRow[];
  let extra: string[] = [];
  if (existingManifest) {
    rows = existingManifest.rows;
    extra = existingManifest.columns.filter((c) => !(MANIFEST_COLUMNS as readonly string[]).includes(c));
  } else {
    rows = ds.items.map((i) => ({ split: i.split, label: i.className, file: i.rel, derived_from: '' }));
  }
  const byFile = new Map<string, ManifestRow>();
  for (const r of rows) if (r.file && !byFile.has(comparablePath(r.file))) byFile.set(comparablePath(r.file), r);
  // the class as the reader understands it: "COVID-19" or "Covid" select the positive class
  const wanted = labelReader(ds.positiveClass)(cls);
  const ofClass = (i: DatasetItem) => ('label' in wanted && wanted.label === 1 ? i.label === 1 : labelKey(i.className) === labelKey(cls));
  const originals = ds.items.filter((i) => ofClass(i) && (split === 'all' || i.split === split) && !AUG_NAME.test(i.rel) && !byFile.get(i.rel)?.derived_from);
  if (originals.length === 0) {
    throw new DatasetError(`no ${cls} images${split === 'all' ? '' : ` in split "${split}"`} of ${ds.root} to augment (check --class and --split)`);
  }
  const augmenter = createAugmenter(opts.params, opts.seed ?? 0);
  const result: AugmentDatasetResult = { originals: originals.length, written: 0, existing: 0, manifestRowsAdded: 0, manifestCreated: !existingManifest };
  const progress = createProgress({ label: 'dataset augment', total: originals.length, onProgress: opts.onProgress });
  const added: ManifestRow[][] = originals.map(() => []);
  await forEachLimit(originals, 2, async (it, n) => {
    const src = byFile.get(it.rel);
    let img: Awaited<ReturnType<typeof loadGreyImage>> | null = null;
    let sha = '';
    for (let k = 1; k < factor; k++) {
      const rel = augmentedName(it.rel, k);
      const path = join(ds.root, rel);
      if (await stat(path).then(() => true, () => false)) {
        result.existing++;
      } else {
        if (!img) {
          const { bytes } = await readSource(it.file);
          sha = sha256Hex(bytes);
          img = await loadGreyImage({ bytes, name: it.file });
        }
        const aug = await augmenter.apply(img, k, sha);
        const png = await sharp(aug.data, { raw: { width: aug.width, height: aug.height, channels: 1 } }).toColourspace('b-w').png({ compressionLevel: 6 }).toBuffer();
        await writeFileAtomic(path, png);
        result.written++;
      }
      if (!byFile.has(rel)) {
        const row: ManifestRow = { ...(src ?? { split: it.split, label: it.className }), file: rel, derived_from: it.rel, sha256: '' };
        if (!src) row.patient_id = it.patient ?? '';
        added[n].push(row);
      }
    }
    progress.tick();
  });
  progress.done();
  const newRows = added.flat();
  result.manifestRowsAdded = newRows.length;
  if (newRows.length > 0 || !existingManifest) await writeManifest(manifestPath, [...rows, ...newRows], extra);
  return result;
}
