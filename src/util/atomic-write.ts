import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
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
      await writeData(tmp, data);
    } catch (err) {
      // a remembered folder removed since (a cache cleared meanwhile): made again, once
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !made?.delete(dir)) throw err;
      await mkdir(dir, { recursive: true });
      made.add(dir);
      await writeData(tmp, data);
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Writes a new file; pieces go in one gathering write (writev), not one write each nor joined first. */
async function writeData(path: string, data: string | Uint8Array | readonly Uint8Array[]): Promise<void> {
  if (typeof data === 'string' || data instanceof Uint8Array) return writeFile(path, data);
  const fh = await open(path, 'w');
  try {
    let written = (await fh.writev(data as Uint8Array[])).bytesWritten;
    const total = data.reduce((t, d) => t + d.byteLength, 0);
    if (written < total) {
      // a short write (rare for a local file): the rest, joined, until all is written
      const whole = Buffer.concat(data);
      while (written < total) {
        const n = (await fh.write(whole, written)).bytesWritten;
        if (n === 0) throw new Error(`${path}: nothing more could be written (${written} of ${total} bytes)`);
        written += n;
      }
    }
  } finally {
    await fh.close();
  }
}
