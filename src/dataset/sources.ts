import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { DatasetError, UsageError } from '../errors.js';
import { parseCsv } from '../util/csv.js';
import type { ClassName } from './split.js';

/** Column names of a metadata CSV (only `file` is required, plus `label` or `finding`). */
export interface ColumnMap {
  file: string;
  /** Folder column prefixed to `file` (ieee8023's `folder`). */
  folder?: string;
  label?: string;
  finding?: string;
  patient?: string;
  view?: string;
  age?: string;
  sex?: string;
  license?: string;
  modality?: string;
}

/** One source of a build config. Paths are relative to the config file. */
export interface SourceConfig {
  /** Short name, used in file names and as the patient-id prefix (e.g. 'ieee8023'). */
  name: string;
  /** 'covid-chestxray' (ieee8023 metadata.csv), 'imagefolder' (label from class folder) or 'csv' (own column map). */
  preset?: 'covid-chestxray' | 'imagefolder' | 'csv';
  /** Folder the image paths are relative to (imagefolder: holds the class folders). */
  root: string;
  /** Metadata CSV (default <root>/metadata.csv for covid-chestxray). */
  metadata?: string;
  columns?: Partial<ColumnMap>;
  /** Label value → class ('covid', 'non' or 'drop'); for imagefolder, class folder → class. */
  labels?: Record<string, ClassName | 'drop'>;
  /** Views to keep (exact, case-insensitive); covid-chestxray default: PA, AP, AP Supine, AP semi erect. */
  views?: string[];
  /** Keep PA views only, as the paper did. */
  paOnly?: boolean;
  /** Drop images of patients younger than this (blank ages are kept); covid-chestxray default 18, null keeps all. */
  minAge?: number | null;
  /** Licence for every image when the metadata has none. */
  license?: string;
}

/** An image selected from a source, before decoding. */
export interface SourceRecord {
  source: string;
  /** Absolute path of the image. */
  path: string;
  /** Path relative to the source root, '/' separators (provenance). */
  sourcePath: string;
  label: ClassName;
  finding: string;
  /** Source-qualified patient id (`<source>:<id>`); images without one are their own patient. */
  patient: string;
  view: string;
  age: string;
  sex: string;
  license: string;
}

/** Why records were dropped, counted per source. */
export type DropCounts = Record<string, Record<string, number>>;

const IEEE_COLUMNS: ColumnMap = {
  file: 'filename', folder: 'folder', finding: 'finding', patient: 'patientid', view: 'view',
  age: 'age', sex: 'sex', license: 'license', modality: 'modality',
};
/** ieee8023 frontal views. */
export const FRONTAL_VIEWS = ['PA', 'AP', 'AP Supine', 'AP semi erect'];
const IMAGE_EXT = /\.(png|jpe?g|tiff?|webp|dcm|dicom)$/i;

/**
 * Label of an ieee8023-style finding: "COVID-19…" (also the later hierarchical form
 * "Pneumonia/Viral/COVID-19") → covid, "todo"/blank → dropped, any other finding → non.
 */
export function labelFromFinding(finding: string): ClassName | 'drop' {
  const f = finding.trim();
  if (f === '' || /^todo$/i.test(f)) return 'drop';
  return /(^|\/)\s*covid-19/i.test(f) ? 'covid' : 'non';
}

function defaultLabel(v: string): ClassName | 'drop' {
  const t = v.trim().toLowerCase();
  if (t === '') return 'drop';
  return ['covid', 'covid-19', 'covid19', 'positive', '1'].includes(t) ? 'covid' : 'non';
}

/** First number in an age field ("67+" → 67), or NaN. */
export function parseAge(v: string | undefined): number {
  const m = /\d+(\.\d+)?/.exec(v ?? '');
  return m ? Number(m[0]) : NaN;
}

/** Reads every source of a config into records, counting what was dropped and why. */
export async function readSources(sources: SourceConfig[], configDir: string): Promise<{ records: SourceRecord[]; dropped: DropCounts }> {
  const records: SourceRecord[] = [];
  const dropped: DropCounts = {};
  const names = new Set<string>();
  for (const s of sources) {
    if (!s.name || !/^[A-Za-z0-9_.-]+$/.test(s.name)) throw new UsageError(`source name "${s.name}" must be letters, digits, '.', '_' or '-'`);
    if (names.has(s.name)) throw new UsageError(`source name "${s.name}" is used twice`);
    names.add(s.name);
    if (!s.root) throw new UsageError(`source ${s.name}: "root" (the image folder) is required`);
    const root = resolve(configDir, s.root);
    const drop: Record<string, number> = (dropped[s.name] = {});
    const skip = (why: string) => (drop[why] = (drop[why] ?? 0) + 1);
    if (s.preset === 'imagefolder') records.push(...(await readImageFolder(s, root)));
    else records.push(...(await readMetadata(s, root, configDir, skip)));
  }
  return { records, dropped };
}

async function readImageFolder(s: SourceConfig, root: string): Promise<SourceRecord[]> {
  let classes: string[];
  try {
    classes = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  } catch {
    throw new DatasetError(`source ${s.name}: folder ${root} cannot be read (imagefolder wants <root>/<class>/<image>)`);
  }
  const out: SourceRecord[] = [];
  for (const cls of classes) {
    const label = s.labels?.[cls] ?? defaultLabel(cls === 'covid' ? 'covid' : cls);
    if (label === 'drop') continue;
    const files = (await readdir(join(root, cls), { withFileTypes: true })).filter((e) => e.isFile() && IMAGE_EXT.test(e.name)).map((e) => e.name).sort();
    for (const f of files) {
      const sourcePath = `${cls}/${f}`;
      out.push({ source: s.name, path: join(root, cls, f), sourcePath, label, finding: cls, patient: `${s.name}:${sourcePath}`, view: '', age: '', sex: '', license: s.license ?? '' });
    }
  }
  if (out.length === 0) throw new DatasetError(`source ${s.name}: no images in ${root}/<class>/`);
  return out;
}

async function readMetadata(s: SourceConfig, root: string, configDir: string, skip: (why: string) => void): Promise<SourceRecord[]> {
  const ieee = s.preset === 'covid-chestxray';
  const cols: ColumnMap = { ...(ieee ? IEEE_COLUMNS : { file: 'file' }), ...s.columns } as ColumnMap;
  if (!ieee && !cols.label && !cols.finding) throw new UsageError(`source ${s.name}: columns need "label" or "finding"`);
  const metaPath = s.metadata ? resolve(configDir, s.metadata) : join(root, 'metadata.csv');
  let text: string;
  try {
    text = await readFile(metaPath, 'utf8');
  } catch {
    throw new DatasetError(`source ${s.name}: metadata ${metaPath} cannot be read`);
  }
  const rows = parseCsv(text);
  const header = rows.length > 0 ? Object.keys(rows[0]) : [];
  for (const [k, c] of Object.entries(cols)) {
    if (c && rows.length > 0 && !header.includes(c)) throw new DatasetError(`source ${s.name}: metadata ${metaPath} has no "${c}" column (mapped as ${k}); it has: ${header.join(', ')}`);
  }
  const views = s.paOnly ? ['PA'] : s.views ?? (ieee ? FRONTAL_VIEWS : null);
  const viewSet = views ? new Set(views.map((v) => v.toLowerCase())) : null;
  const minAge = s.minAge === undefined ? (ieee ? 18 : null) : s.minAge;
  const out: SourceRecord[] = [];
  const metaDir = dirname(metaPath);
  for (const r of rows) {
    const get = (k: keyof ColumnMap) => (cols[k] ? (r[cols[k]!] ?? '').trim() : '');
    const file = get('file');
    if (!file) {
      skip('no file name');
      continue;
    }
    if (ieee && cols.modality && !/^x-?ray$/i.test(get('modality'))) {
      skip('not X-ray');
      continue;
    }
    const finding = get('finding');
    const label = cols.label ? (s.labels?.[get('label')] ?? defaultLabel(get('label'))) : (s.labels?.[finding] ?? labelFromFinding(finding));
    if (label === 'drop') {
      skip('no usable label');
      continue;
    }
    const view = get('view');
    if (viewSet && !viewSet.has(view.toLowerCase())) {
      skip(s.paOnly ? 'not PA' : 'not a frontal view');
      continue;
    }
    const age = get('age');
    if (minAge !== null && parseAge(age) < minAge) {
      skip(`younger than ${minAge}`);
      continue;
    }
    const rel = (cols.folder && get('folder') ? `${get('folder')}/${file}` : file).split(/[\\/]/).join('/');
    // image paths are relative to the source root; a root-less config falls back to the metadata folder
    const path = join(s.root ? root : metaDir, rel);
    const pid = get('patient');
    out.push({
      source: s.name, path, sourcePath: relative(root, path).split(sep).join('/'), label, finding: finding || get('label'),
      patient: `${s.name}:${pid || rel}`, view, age, sex: get('sex'), license: get('license') || s.license || '',
    });
  }
  return out;
}
