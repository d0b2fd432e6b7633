import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { DatasetError } from '../errors.js';
import { parseCsv } from '../util/csv.js';

/** One input to screen. */
export interface ScreenInput {
  /** How results name it: the path relative to a source folder, or as a list writes it. */
  name: string;
  /** Absolute path to read. */
  path: string;
}

/** The inputs of a source, in a stable order, and what was left out. */
export interface ScreenSource {
  /** The folder or list file, absolute. */
  origin: string;
  kind: 'folder' | 'list';
  inputs: ScreenInput[];
  /** Files of a folder that are not images by their name (e.g. manifest.csv, README.md). */
  ignored: number;
}

// Image files by name; files without an extension are kept too (DICOM archives often have none).
// Content decides the format later: a misnamed file becomes an error row, not a silent skip.
const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.webp', '.dcm', '.dicom']);

function looksLikeImageName(name: string): boolean {
  const ext = extname(name).toLowerCase();
  return ext === '' || IMAGE_EXT.has(ext);
}

async function walk(dir: string, out: string[], counts: { ignored: number }, seen = new Set<string>()): Promise<void> {
  // a link back up the tree is walked once
  const real = await realpath(dir);
  if (seen.has(real)) return;
  seen.add(real);
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    // symbolic links are followed to what they point at (archives are often link farms)
    const target = e.isSymbolicLink() ? await stat(p).catch(() => null) : e;
    if (!target) continue;
    if (target.isDirectory()) await walk(p, out, counts, seen);
    else if (target.isFile() && looksLikeImageName(e.name)) out.push(p);
    else if (target.isFile()) counts.ignored++;
  }
}

/**
 * Lists what to screen. A folder is walked recursively (hidden entries skipped; image file
 * names and names without an extension kept). A file is a list: CSV with a `file` column (a
 * manifest), else one path per line; relative paths are relative to the list's folder.
 * A folder's inputs are sorted by name and a list's keep its order, so batches are the same on
 * every run (resumption relies on it); a name listed twice counts once.
 */
export async function listSource(source: string): Promise<ScreenSource> {
  const origin = resolve(source);
  const st = await stat(origin).catch(() => null);
  if (!st) throw new DatasetError(`input ${origin} does not exist: give a folder of images or a list of image paths`);
  let inputs: ScreenInput[];
  let ignored = 0;
  let kind: ScreenSource['kind'];
  if (st.isDirectory()) {
    kind = 'folder';
    const files: string[] = [];
    const counts = { ignored: 0 };
    await walk(origin, files, counts);
    ignored = counts.ignored;
    inputs = files.map((p) => ({ name: relative(origin, p).split(sep).join('/'), path: p }));
    inputs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } else {
    kind = 'list';
    inputs = parseList(await readFile(origin, 'utf8'), origin);
  }
  // a list naming the same file twice would get two rows for one input
  const seen = new Set<string>();
  const unique = inputs.filter((x) => !seen.has(x.name) && !!seen.add(x.name));
  if (unique.length === 0) throw new DatasetError(`no images found in ${origin}`);
  return { origin, kind, inputs: unique, ignored };
}

function parseList(text: string, listPath: string): ScreenInput[] {
  const base = dirname(listPath);
  const first = text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? '';
  const isCsv = first.split(',').map((s) => s.trim().replace(/^"|"$/g, '')).includes('file');
  const names = isCsv
    ? parseCsv(text).map((r, i) => {
      if (!r.file) throw new DatasetError(`${listPath} row ${i + 2}: empty "file"`);
      return r.file;
    })
    : text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  return names.map((name) => ({ name, path: isAbsolute(name) ? name : join(base, name) }));
}
