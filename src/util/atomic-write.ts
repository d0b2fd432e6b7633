import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Writes a file atomically: data (a string, bytes, or pieces of bytes written one after another)
 * goes to a temporary file in the same directory, which is then renamed over the target. A crash
 * at any moment leaves either the old file or the new one, never a half-written one. `made`, when
 * given, remembers the folders already created, so that many writes into the same few folders
 * (a cache) skip the mkdir.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[], made?: Set<string>): Promise<void> {
  const dir = dirname(path);
  if (!made?.has(dir)) {
    await mkdir(dir, { recursive: true });
    made?.add(dir);
  }
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    try {
      await writeFile(tmp, data);
    } catch (err) {
      // a remembered folder removed since (a cache cleared meanwhile): made again, once
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !made?.delete(dir)) throw err;
      await mkdir(dir, { recursive: true });
      made.add(dir);
      await writeFile(tmp, data);
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
