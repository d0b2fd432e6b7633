import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ModelError } from '../errors.js';

/** Progress callback: bytes so far and the total when the server says it. */
export type DownloadProgress = (received: number, total: number | null) => void;

/**
 * Downloads `url` to `dest`, verifying its sha256 while streaming. The file only appears at
 * `dest` (by rename) once the checksum matched, so an interrupted or tampered download never
 * leaves a file that looks valid.
 */
export async function downloadVerified(url: string, sha256: string, dest: string, onProgress?: DownloadProgress, signal?: AbortSignal): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.${randomBytes(4).toString('hex')}.part`;
  let res: Response;
  try {
    res = await fetch(url, { signal });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ModelError(`download of ${url} failed: ${(err as Error).message} (no network? put the file in $DEEP_COVID_MODELS instead)`, { cause: err });
  }
  if (!res.ok || !res.body) throw new ModelError(`download of ${url} failed: HTTP ${res.status} ${res.statusText}`);
  const total = Number(res.headers.get('content-length')) || null;
  const hash = createHash('sha256');
  let received = 0;
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    received += chunk.length;
    onProgress?.(received, total);
  });
  try {
    await pipeline(body, createWriteStream(tmp));
    const got = hash.digest('hex');
    if (got !== sha256.toLowerCase()) {
      throw new ModelError(`download of ${url} has sha256 ${got}, expected ${sha256}: the file is corrupt or not the registered one, and was discarded`);
    }
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
