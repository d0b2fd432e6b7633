import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { DatasetError } from '../errors.js';
import { parseCsv } from '../util/csv.js';
import { cleanRelativePath, comparablePath, RootGuard } from './confine.js';
import { labelReader, labelsSeen, type LabelMeaning } from './labels.js';

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

/** A file listed more than once. */
export interface RepeatedEntry {
  /** The file, relative to the dataset root (its real location when links lead to it). */
  file: string;
  /** Each listing: path as listed, manifest row (1 = header) when from a manifest, label as written, split. */
  entries: { rel: string; row?: number; label: string; split: string }[];
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
  /** Files listed more than once with the same label and split: kept once. */
  duplicates: RepeatedEntry[];
  /** Files listed with different labels or splits (only read with `conflicts: 'report'`; the first listing is kept). */
  conflicts: RepeatedEntry[];
  /** Labels read as another spelling of the positive class, e.g. "COVID-19" → "covid". */
  respelled: { written: string; className: string; count: number }[];
}

/** How to read a dataset. */
export interface ReadOptions {
  /** Class name of COVID-positive images, whatever the folder order (default 'covid'). */
  positiveClass?: string;
  /** A manifest CSV to use instead of `<root>/manifest.csv`; set false to ignore any manifest. */
  manifest?: string | false;
  /**
   * A file listed with two labels or in two splits: 'refuse' (default: training must not guess)
   * throws a DatasetError naming the rows; 'report' keeps the first listing and lists it in `conflicts`.
   */
  conflicts?: 'refuse' | 'report';
}

const IMAGE_EXT = /\.(png|jpe?g|tiff?|webp|dcm|dicom)$/i;

/** An item before de-duplication, with where it really is and where it was listed. */
interface Listed {
  item: DatasetItem;
  real: string;
  row?: number;
  written: string;
}

/**
 * Reads a dataset folder. With a manifest CSV (`<root>/manifest.csv` or `opts.manifest`) its
 * rows are the truth: columns `file` (relative to the root), `label`, and optionally `split`,
 * `patient_id`, `source` (or `source_repo`), `view`. Without one, the folder layout is read as
 * torchvision's ImageFolder: `<split>/<class>/<image>` (the paper's train|test/covid|non) or
 * `<class>/<image>` (split 'all').
 *
 * Every file must lie inside the root, also through symbolic links (which are followed there);
 * labels are matched whatever their case, spacing or spelling of COVID-19 (see labels.ts), and a
 * label that looks like a misspelt positive class is refused with the labels seen.
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
  const guard = await RootGuard.open(root);
  const readLabel = labelReader(positiveClass);
  const listed = manifestText !== null
    ? await fromManifest(guard, manifestPath!, manifestText, readLabel, positiveClass)
    : await fromFolders(guard, readLabel, positiveClass);
  if (listed.length === 0) {
    throw new DatasetError(`no images found in ${root}: expected <split>/<class>/<image> folders (e.g. train/covid, test/non) or a manifest.csv`);
  }
  const where = manifestText !== null ? `manifest ${manifestPath}` : `dataset folder ${root}`;
  const { items, duplicates, conflicts } = dedupe(guard, listed);
  if (conflicts.length > 0 && (opts.conflicts ?? 'refuse') === 'refuse') {
    const shown = conflicts.slice(0, 5).map(describeRepeat).join('; ');
    throw new DatasetError(`${where} lists ${conflicts.length} file(s) with different labels or splits: ${shown}${conflicts.length > 5 ? '; …' : ''}. Keep one row per file (run dataset check to see them all)`);
  }
  items.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  const respelled = new Map<string, { written: string; className: string; count: number }>();
  for (const l of listed) {
    if (l.written === l.item.className) continue;
    const k = `${l.written}\0${l.item.className}`;
    const e = respelled.get(k) ?? respelled.set(k, { written: l.written, className: l.item.className, count: 0 }).get(k)!;
    e.count++;
  }
  return {
    root, items, hasPatients: items.every((i) => !!i.patient), origin: manifestText !== null ? 'manifest' : 'folders', positiveClass,
    duplicates, conflicts, respelled: [...respelled.values()].filter((r) => r.written.trim() !== r.className),
  };
}

function describeRepeat(r: RepeatedEntry): string {
  return `${r.file}: ${r.entries.map((e) => `${e.row !== undefined ? `row ${e.row} ` : e.rel !== r.file ? `${e.rel} ` : ''}"${e.label}" in ${e.split}`).join(' vs ')}`;
}

/** One item per real file: repeats with the same label and split are duplicates, others conflicts. */
function dedupe(guard: RootGuard, listed: Listed[]): { items: DatasetItem[]; duplicates: RepeatedEntry[]; conflicts: RepeatedEntry[] } {
  const byReal = new Map<string, Listed[]>();
  for (const l of listed) {
    const group = byReal.get(l.real);
    if (group) group.push(l);
    else byReal.set(l.real, [l]);
  }
  const items: DatasetItem[] = [];
  const duplicates: RepeatedEntry[] = [];
  const conflicts: RepeatedEntry[] = [];
  for (const [real, group] of byReal) {
    items.push(group[0].item);
    if (group.length === 1) continue;
    const file = relative(guard.realRoot, real).split(sep).join('/');
    const entry: RepeatedEntry = { file, entries: group.map((l) => ({ rel: l.item.rel, row: l.row, label: l.written, split: l.item.split })) };
    const same = group.every((l) => l.item.label === group[0].item.label && l.item.split === group[0].item.split);
    (same ? duplicates : conflicts).push(entry);
  }
  return { items, duplicates, conflicts };
}

function ambiguousLabels(where: string, positiveClass: string, bad: { label: string; at: string }[], all: string[]): DatasetError {
  const names = [...new Set(bad.map((b) => b.label))].map((l) => `"${l}" (first at ${bad.find((b) => b.label === l)!.at})`).join(', ');
  return new DatasetError(
    `${where}: label(s) ${names} may be misspellings of the positive class "${positiveClass}" and are not counted as either class. ` +
      `Write "${positiveClass}" (any case; COVID-19, covid19 and SARS-CoV-2 are read as covid) for positive images and a name that does not resemble it (e.g. non, normal) for the others. Labels seen: ${labelsSeen(all)}`,
  );
}

async function fromManifest(guard: RootGuard, path: string, text: string, readLabel: (raw: string) => LabelMeaning, positiveClass: string): Promise<Listed[]> {
  const rows = parseCsv(text);
  if (rows.length === 0) return [];
  for (const col of ['file', 'label']) {
    if (!(col in rows[0])) throw new DatasetError(`manifest ${path} has no "${col}" column (it needs at least file,label)`);
  }
  const out: Listed[] = [];
  const ambiguous: { label: string; at: string }[] = [];
  for (const [i, r] of rows.entries()) {
    const row = i + 2;
    if (!r.file || !r.label?.trim()) throw new DatasetError(`manifest ${path} row ${row}: empty file or label`);
    const clean = cleanRelativePath(r.file);
    if ('refused' in clean) throw new DatasetError(`manifest ${path} row ${row}: file "${r.file.slice(0, 200)}" ${clean.refused}; deep-covid reads and writes only inside the dataset folder ${guard.root}`);
    const rel = clean.rel;
    const file = join(guard.root, rel);
    const where = await guard.locate(file);
    if ('outside' in where) {
      throw new DatasetError(`manifest ${path} row ${row}: file "${r.file.slice(0, 200)}" is reached through a symbolic link that leads to ${where.outside}, outside the dataset folder ${guard.root}: copy the image into the dataset folder`);
    }
    const meaning = readLabel(r.label);
    if ('ambiguous' in meaning) {
      ambiguous.push({ label: r.label, at: `row ${row}` });
      continue;
    }
    const split = r.split || (rel.includes('/') ? rel.split('/')[0] : 'all');
    out.push({
      real: where.real, row, written: r.label,
      item: {
        file, rel, split, label: meaning.label, className: meaning.className,
        patient: r.patient_id || r.patient || undefined,
        source: r.source || r.source_repo || undefined,
        view: r.view || undefined,
        derivedFrom: r.derived_from ? comparablePath(r.derived_from) : undefined,
      },
    });
  }
  if (ambiguous.length) throw ambiguousLabels(`manifest ${path}`, positiveClass, ambiguous, rows.map((r) => r.label));
  return out;
}

/** A folder entry, symbolic links resolved to what they point at ('dangling' when nothing). */
async function entriesOf(dir: string): Promise<{ name: string; kind: 'file' | 'dir' | 'dangling' | 'other' }[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return Promise.all(entries.filter((e) => !e.name.startsWith('.')).map(async (e) => {
    if (e.isFile()) return { name: e.name, kind: 'file' as const };
    if (e.isDirectory()) return { name: e.name, kind: 'dir' as const };
    if (!e.isSymbolicLink()) return { name: e.name, kind: 'other' as const };
    const target = await stat(join(dir, e.name)).catch(() => null);
    return { name: e.name, kind: !target ? 'dangling' as const : target.isFile() ? 'file' as const : target.isDirectory() ? 'dir' as const : 'other' as const };
  }));
}

async function fromFolders(guard: RootGuard, readLabel: (raw: string) => LabelMeaning, positiveClass: string): Promise<Listed[]> {
  const root = guard.root;
  const escapes: string[] = [];
  const ambiguous: { label: string; at: string }[] = [];
  const classes: string[] = [];
  /** Sub-folders inside the root (linked ones followed when they stay inside). */
  const subdirs = async (dir: string) => {
    const out: string[] = [];
    for (const e of (await entriesOf(dir)).filter((x) => x.kind === 'dir').sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const w = await guard.locate(join(dir, e.name));
      if ('outside' in w) escapes.push(`${relative(root, join(dir, e.name)).split(sep).join('/')} → ${w.outside}`);
      else out.push(e.name);
    }
    return out;
  };
  /** Image files (a dangling link is kept: reading it will fail with its name). */
  const images = async (dir: string) => (await entriesOf(dir)).filter((e) => (e.kind === 'file' || e.kind === 'dangling') && IMAGE_EXT.test(e.name)).map((e) => join(dir, e.name));
  const out: Listed[] = [];
  const add = async (cls: string, split: string, dir: string) => {
    const files = await images(dir);
    if (files.length === 0) return;
    const meaning = readLabel(cls);
    classes.push(...files.map(() => cls));
    if ('ambiguous' in meaning) {
      ambiguous.push({ label: cls, at: relative(root, dir).split(sep).join('/') });
      return;
    }
    for (const file of files) {
      const w = await guard.locate(file);
      const rel = relative(root, file).split(sep).join('/');
      if ('outside' in w) escapes.push(`${rel} → ${w.outside}`);
      else out.push({ real: w.real, written: cls, item: { file, rel, split, label: meaning.label, className: meaning.className } });
    }
  };
  const top = await subdirs(root);
  // `<class>/<image>` when a top folder holding images is the positive class; else `<split>/<class>/<image>`
  const positiveTop = top.find((t) => { const m = readLabel(t); return 'label' in m && m.label === 1; });
  const flat = positiveTop !== undefined && (await images(join(root, positiveTop))).length > 0;
  if (flat) {
    for (const cls of top) await add(cls, 'all', join(root, cls));
  } else {
    for (const split of top) for (const cls of await subdirs(join(root, split))) await add(cls, split, join(root, split, cls));
  }
  if (escapes.length) {
    throw new DatasetError(`dataset folder ${root}: ${escapes.length} symbolic link(s) lead outside it (${escapes.slice(0, 5).join(', ')}${escapes.length > 5 ? ', …' : ''}): copy those images into the dataset folder (deep-covid reads and writes only inside it)`);
  }
  if (ambiguous.length) throw ambiguousLabels(`dataset folder ${root}: class folder(s)`, positiveClass, ambiguous, classes);
  return out;
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
