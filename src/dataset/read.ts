import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { DatasetError } from '../errors.js';
import { parseCsv } from '../util/csv.js';

/** One labelled image of a dataset. */
export interface DatasetItem {
  /** Absolute path. */
  file: string;
  /** Path relative to the dataset root, with '/' separators (stable id in CSVs and reports). */
  rel: string;
  /** 'train', 'test', 'val', … or 'all' for a folder without splits. */
  split: string;
  /** 1 = COVID (positive), 0 = non-COVID. */
  label: 0 | 1;
  /** The class name as written in the folder or manifest. */
  className: string;
  /** Patient id from the manifest, when known. */
  patient?: string;
  source?: string;
  view?: string;
  /** For a materialised augmented copy (`dataset augment`): the original's relative path. */
  derivedFrom?: string;
}

/** A dataset: images with labels, splits and (when a manifest gives them) patients. */
export interface Dataset {
  root: string;
  items: DatasetItem[];
  /** True when every item has a patient id (patient-level splits and intervals are possible). */
  hasPatients: boolean;
  /** Where labels came from. */
  origin: 'manifest' | 'folders';
  positiveClass: string;
}

/** How to read a dataset. */
export interface ReadOptions {
  /** Class name of COVID-positive images, whatever the folder order (default 'covid'). */
  positiveClass?: string;
  /** A manifest CSV to use instead of `<root>/manifest.csv`; set false to ignore any manifest. */
  manifest?: string | false;
}

const IMAGE_EXT = /\.(png|jpe?g|tiff?|webp|dcm|dicom)$/i;

/**
 * Reads a dataset folder. With a manifest CSV (`<root>/manifest.csv` or `opts.manifest`) its
 * rows are the truth: columns `file` (relative to the root), `label`, and optionally `split`,
 * `patient_id`, `source` (or `source_repo`), `view`. Without one, the folder layout is read as
 * torchvision's ImageFolder: `<split>/<class>/<image>` (the paper's train|test/covid|non) or
 * `<class>/<image>` (split 'all').
 */
export async function readDataset(rootDir: string, opts: ReadOptions = {}): Promise<Dataset> {
  const root = resolve(rootDir);
  const positiveClass = opts.positiveClass ?? 'covid';
  let st;
  try {
    st = await stat(root);
  } catch {
    throw new DatasetError(`dataset folder ${root} does not exist`);
  }
  if (!st.isDirectory()) throw new DatasetError(`${root} is not a folder: give a dataset folder (train|test/covid|non) or use --manifest`);
  const manifestPath = opts.manifest === false ? null : opts.manifest ? resolve(opts.manifest) : join(root, 'manifest.csv');
  const manifestText = manifestPath ? await readFile(manifestPath, 'utf8').catch(() => null) : null;
  if (opts.manifest && manifestText === null) throw new DatasetError(`manifest ${manifestPath} cannot be read`);
  const items = manifestText !== null ? fromManifest(root, manifestPath!, manifestText, positiveClass) : await fromFolders(root, positiveClass);
  if (items.length === 0) {
    throw new DatasetError(`no images found in ${root}: expected <split>/<class>/<image> folders (e.g. train/covid, test/non) or a manifest.csv`);
  }
  items.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { root, items, hasPatients: items.every((i) => !!i.patient), origin: manifestText !== null ? 'manifest' : 'folders', positiveClass };
}

function fromManifest(root: string, path: string, text: string, positive: string): DatasetItem[] {
  const rows = parseCsv(text);
  if (rows.length === 0) return [];
  for (const col of ['file', 'label']) {
    if (!(col in rows[0])) throw new DatasetError(`manifest ${path} has no "${col}" column (it needs at least file,label)`);
  }
  return rows.map((r, i) => {
    if (!r.file || !r.label) throw new DatasetError(`manifest ${path} row ${i + 2}: empty file or label`);
    const rel = r.file.split(/[\\/]/).join('/');
    const split = r.split || (rel.includes('/') ? rel.split('/')[0] : 'all');
    return {
      file: join(root, rel),
      rel,
      split,
      label: r.label === positive ? 1 : 0,
      className: r.label,
      patient: r.patient_id || r.patient || undefined,
      source: r.source || r.source_repo || undefined,
      view: r.view || undefined,
      derivedFrom: r.derived_from || undefined,
    };
  });
}

async function listImages(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isFile() && IMAGE_EXT.test(e.name) && !e.name.startsWith('.')).map((e) => join(dir, e.name));
}

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
}

async function fromFolders(root: string, positive: string): Promise<DatasetItem[]> {
  const top = await subdirs(root);
  const items: DatasetItem[] = [];
  const add = (file: string, split: string, cls: string) => {
    const rel = relative(root, file).split(sep).join('/');
    items.push({ file, rel, split, label: cls === positive ? 1 : 0, className: cls });
  };
  // `<class>/<image>` when the top folders hold images directly; else `<split>/<class>/<image>`
  const flat = top.includes(positive) && (await listImages(join(root, positive))).length > 0;
  if (flat) {
    for (const cls of top) for (const f of await listImages(join(root, cls))) add(f, 'all', cls);
  } else {
    for (const split of top) for (const cls of await subdirs(join(root, split))) for (const f of await listImages(join(root, split, cls))) add(f, split, cls);
  }
  return items;
}

/** Items of one split (e.g. 'train'), or a clear error when the split is absent. */
export function splitOf(ds: Dataset, split: string): DatasetItem[] {
  const items = ds.items.filter((i) => i.split === split);
  if (items.length === 0) {
    const have = [...new Set(ds.items.map((i) => i.split))].join(', ');
    throw new DatasetError(`dataset ${ds.root} has no "${split}" split (it has: ${have})`);
  }
  return items;
}
