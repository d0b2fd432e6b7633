import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-write.js';
import { formatCsv, parseCsv } from '../util/csv.js';

/** Columns deep-covid writes to manifest.csv, in order (readDataset reads file, label, split, patient_id, source, view). */
export const MANIFEST_COLUMNS = [
  'split', 'label', 'file', 'source', 'source_path', 'patient_id', 'view', 'age', 'sex', 'license', 'finding', 'sha256', 'derived_from',
] as const;

/** One manifest row: every column a string (blank when unknown). */
export type ManifestRow = Record<string, string>;

/** Reads a manifest's rows and columns, or null when the file does not exist. */
export async function readManifestRows(path: string): Promise<{ rows: ManifestRow[]; columns: string[] } | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  const rows = parseCsv(text);
  const header = text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0];
  // an empty manifest still tells its columns through the header line
  const columns = rows.length > 0 ? Object.keys(rows[0]) : header.split(',').map((c) => c.replace(/^"|"$/g, '')).filter(Boolean);
  return { rows, columns };
}

/** Writes a manifest atomically with deep-covid's columns first, then any extra columns the rows carry. */
export async function writeManifest(path: string, rows: ManifestRow[], extraColumns: string[] = []): Promise<void> {
  const cols: string[] = [...MANIFEST_COLUMNS];
  for (const c of extraColumns) if (!cols.includes(c)) cols.push(c);
  await writeFileAtomic(path, formatCsv(rows, cols));
}
