// Is a PNG, JPEG or WebP file cut short? Decided from the file's own structure, because libvips
// keeps one error buffer for all its threads: when several files fail at once (a batch), the
// message sharp reports may belong to another file or be the bare "Warning treated as error", so a
// truncated file could be called corrupt in one place and truncated in another.
import type { ImageFormat } from './grey-image.js';

/**
 * Where the file ends early, in words ("the PNG chunk IDAT at byte 120 declares 8192 bytes but the
 * file ends at byte 4000"), or null when its structure is complete or cannot be judged (TIFF).
 */
export function truncationOf(b: Uint8Array, format: ImageFormat): string | null {
  if (format === 'png') return pngTruncation(b);
  if (format === 'jpeg') return jpegTruncation(b);
  if (format === 'webp') return webpTruncation(b);
  return null;
}

function be32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

/** PNG: chunks (length, type, data, CRC) from byte 8 up to IEND. */
function pngTruncation(b: Uint8Array): string | null {
  let pos = 8;
  while (pos + 8 <= b.length) {
    const len = be32(b, pos);
    const type = String.fromCharCode(b[pos + 4], b[pos + 5], b[pos + 6], b[pos + 7]);
    if (pos + 12 + len > b.length) return `the PNG chunk ${type} at byte ${pos} declares ${len} bytes but the file ends at byte ${b.length}`;
    if (type === 'IEND') return null;
    pos += 12 + len;
  }
  return `the PNG data ends at byte ${b.length} without its end chunk (IEND)`;
}

/** JPEG: marker segments up to the first scan, then an end-of-image marker somewhere after it. */
function jpegTruncation(b: Uint8Array): string | null {
  let pos = 2;
  while (pos + 4 <= b.length) {
    if (b[pos] !== 0xff) return null; // not a structure we can judge: leave it to the decoder
    const m = b[pos + 1];
    if (m === 0xff) {
      pos++;
      continue;
    }
    if (m === 0xd9) return null;
    const len = (b[pos + 2] << 8) | b[pos + 3];
    if (pos + 2 + len > b.length) return `the JPEG marker segment FF${m.toString(16).toUpperCase()} at byte ${pos} declares ${len} bytes but the file ends at byte ${b.length}`;
    pos += 2 + len;
    if (m === 0xda) {
      for (let i = pos; i + 1 < b.length; i++) if (b[i] === 0xff && b[i + 1] === 0xd9) return null;
      return `the JPEG data ends at byte ${b.length}, inside the image data, without its end-of-image marker (FFD9)`;
    }
  }
  return `the JPEG data ends at byte ${b.length}, before the image data`;
}

/** WebP: the RIFF header's size against the file's. */
function webpTruncation(b: Uint8Array): string | null {
  if (b.length < 12) return `the WebP data ends at byte ${b.length}, inside its header`;
  const size = (b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24)) >>> 0;
  return size + 8 > b.length ? `the WebP file declares ${size + 8} bytes but ends at byte ${b.length}` : null;
}
