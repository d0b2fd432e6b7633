/**
 * Keeps every path a dataset names inside the dataset folder. A manifest is data, often written by
 * someone else: its `file` column must not reach `/etc/passwd`, `../../elsewhere` or, through a
 * symbolic link, anything outside the folder, because `train` and `check` read those files and
 * `dataset augment` writes beside them.
 */
import { lstat, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, posix, relative, resolve, sep } from 'node:path';

/**
 * A manifest's `file` value as a clean relative path with '/' separators, or the reason it is
 * refused: absolute paths (POSIX, Windows drive or UNC, URLs), `..` that leaves the root, empty.
 */
export function cleanRelativePath(file: string): { rel: string } | { refused: string } {
  if (/[\u0000-\u001f]/.test(file)) return { refused: 'contains control characters' };
  const slashed = file.replace(/\\/g, '/');
  if (slashed.startsWith('/') || /^[a-z]:/i.test(slashed) || /^[a-z][a-z0-9+.-]*:\/\//i.test(slashed)) {
    return { refused: 'is an absolute path; give paths relative to the dataset folder' };
  }
  const rel = posix.normalize(slashed);
  if (rel === '..' || rel.startsWith('../')) return { refused: 'leaves the dataset folder through ".."' };
  if (rel === '.' || rel === '' || rel.endsWith('/')) return { refused: 'names a folder, not a file' };
  return { rel };
}

/** A manifest path in the form DatasetItem.rel has, for matching rows to items (as it was when it cannot be cleaned). */
export function comparablePath(file: string): string {
  const c = cleanRelativePath(file);
  return 'rel' in c ? c.rel : file;
}

function inside(root: string, p: string): boolean {
  const r = relative(root, p);
  return r === '' || (!r.startsWith(`..${sep}`) && r !== '..' && !isAbsolute(r));
}

/** Where a path really is: `real` when inside the root, `outside` (the real path) when not. */
export type Whereabouts = { real: string } | { outside: string };

/** Resolves paths under one root through symbolic links, caching folders (one realpath per folder). */
export class RootGuard {
  private readonly dirs = new Map<string, Promise<string>>();

  private constructor(readonly root: string, readonly realRoot: string) {}

  /** A guard of `root` (which must exist). */
  static async open(root: string): Promise<RootGuard> {
    const abs = resolve(root);
    return new RootGuard(abs, await realpath(abs));
  }

  /** The real path of a folder; for a folder that does not exist yet, that of its nearest existing ancestor joined with the rest. */
  private realDir(dir: string): Promise<string> {
    let p = this.dirs.get(dir);
    if (!p) {
      p = realpath(dir).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT' && err.code !== 'ENOTDIR') throw err;
        const parent = dirname(dir);
        if (parent === dir) return dir;
        return join(await this.realDir(parent), basename(dir));
      });
      this.dirs.set(dir, p);
    }
    return p;
  }

  /**
   * Where `abs` (a path under the root) really is, following symbolic links in its folders and
   * the file itself. A dangling link is judged by where it points. A file that does not exist is
   * judged by its folder (so a file about to be written beside it stays inside too).
   */
  async locate(abs: string): Promise<Whereabouts> {
    const dirReal = await this.realDir(dirname(abs));
    let real = join(dirReal, basename(abs));
    const st = await lstat(real).catch(() => null);
    if (st?.isSymbolicLink()) {
      real = await realpath(real).catch(async () => resolve(dirReal, await readlink(real)));
    }
    return inside(this.realRoot, real) ? { real } : { outside: real };
  }
}
