/**
 * The files a command was given, with folders opened when asked (`--recursive`): every file in
 * them, subfolders too, whose content is an image format deep-covid reads (by its first bytes,
 * not its name). Hidden files and folders are left out; the order is sorted, so runs repeat.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sniffFormat } from '../input/sniff.js';

/** One argument made into inputs: files to use, or why an argument gave none. */
export interface ExpandedInputs {
  /** Image files in argument order (an opened folder's images where the folder was). */
  files: string[];
  /** Arguments that are folders while folders were not to be opened. */
  folders: string[];
  /** Per opened folder: images found and other files skipped. */
  opened: { folder: string; images: number; skipped: number }[];
}

async function isImage(file: string): Promise<boolean> {
  const fh = await open(file, 'r').catch(() => null);
  if (!fh) return false;
  try {
    const buf = new Uint8Array(132);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return sniffFormat(buf.subarray(0, bytesRead)) !== null;
  } finally {
    await fh.close();
  }
}

async function walk(dir: string, out: { images: string[]; skipped: number }): Promise<void> {
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'));
  // code-point order, so every machine lists the same way
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else if (e.isFile()) {
      if (await isImage(p)) out.images.push(p);
      else out.skipped++;
    }
  }
}

/** Expands folder arguments into their image files when `recursive`; other arguments pass through. */
export async function expandImageInputs(args: readonly string[], recursive: boolean): Promise<ExpandedInputs> {
  const result: ExpandedInputs = { files: [], folders: [], opened: [] };
  for (const a of args) {
    const st = await stat(a).catch(() => null);
    if (!st?.isDirectory()) {
      // missing and unreadable files are reported by the library, by name
      result.files.push(a);
      continue;
    }
    if (!recursive) {
      result.folders.push(a);
      continue;
    }
    const found = { images: [] as string[], skipped: 0 };
    await walk(a, found);
    result.files.push(...found.images);
    result.opened.push({ folder: a, images: found.images.length, skipped: found.skipped });
  }
  return result;
}
