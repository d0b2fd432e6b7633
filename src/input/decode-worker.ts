// Worker thread body of the decode pool (decode-pool.ts): decodes one image per message with
// loadGreyImage and posts the pixels back without copying them (the buffer is transferred).
import { parentPort } from 'node:worker_threads';
import { InputError } from '../errors.js';
import { sha256Hex } from '../util/hash.js';
import { loadGreyImage, type ImageSource, type LoadLimits } from './load-image.js';

/** A decode job. */
export interface DecodeJob {
  id: number;
  src: ImageSource;
  limits: Partial<LoadLimits>;
  /** Also hash the file's bytes here (a 50 MiB upload takes tens of milliseconds to hash). */
  hash?: boolean;
}

/** The answer to a job: the image, an InputError's parts, or another failure. */
export type DecodeReply =
  | { id: number; image: { width: number; height: number; data: Uint8Array; format: string; bitDepth: number; meta?: Record<string, string | number> }; sha256?: string }
  | { id: number; inputError: { file: string; problem: string; message: string } }
  | { id: number; error: string };

const port = parentPort!;
port.on('message', (job: DecodeJob) => {
  loadGreyImage(job.src, job.limits).then(
    (img) => {
      // Hand the pixels over without copying when they are in a buffer of their own (the DICOM
      // reader's). libvips' output buffers cannot be handed over (postMessage would clone them
      // twice), so those are copied once here.
      const own = img.format === 'dicom' && img.data.byteOffset === 0 && img.data.byteLength === img.data.buffer.byteLength ? img.data : img.data.slice();
      const sha256 = job.hash && typeof job.src !== 'string' ? sha256Hex(job.src.bytes) : undefined;
      const reply: DecodeReply = { id: job.id, image: { width: img.width, height: img.height, data: own, format: img.format, bitDepth: img.bitDepth, ...(img.meta ? { meta: { ...img.meta } } : {}) }, ...(sha256 ? { sha256 } : {}) };
      port.postMessage(reply, [own.buffer as ArrayBuffer]);
    },
    (err: unknown) => {
      const reply: DecodeReply = err instanceof InputError
        ? { id: job.id, inputError: { file: err.file, problem: err.problem, message: err.message } }
        : { id: job.id, error: err instanceof Error ? err.message : String(err) };
      port.postMessage(reply);
    },
  );
});
