import type { ImageFormat } from './grey-image.js';

/**
 * Detects an image format from its first bytes (never from the file name).
 * Returns null when the content is no format deep-covid reads.
 */
export function sniffFormat(bytes: Uint8Array): ImageFormat | null {
  const b = bytes;
  // DICOM first: a Part 10 preamble is free-form and is sometimes a TIFF header (dual-format files)
  if (looksLikeDicom(b)) return 'dicom';
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0x00) ||
    (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0x00 && b[3] === 0x2a))) return 'tiff';
  if (b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 &&
    b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) return 'webp';
  return null;
}

/**
 * DICOM Part 10 files have a 128-byte preamble then "DICM". Older files written without
 * the preamble start straight with a little-endian data set: a group 0x0002 or 0x0008 tag whose
 * length (4 bytes implicit VR, or a VR then 2 bytes explicit VR) is plausible.
 */
export function looksLikeDicom(b: Uint8Array): boolean {
  if (b.length >= 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d) return true;
  if (b.length < 8) return false;
  const group = b[0] | (b[1] << 8);
  if (group !== 0x0002 && group !== 0x0008) return false;
  // Explicit VR (bytes 4-5 spell a VR such as "CS", then a 2-byte length) or implicit VR (4-byte length).
  const explicit = b[4] >= 0x41 && b[4] <= 0x5a && b[5] >= 0x41 && b[5] <= 0x5a;
  const len = explicit ? b[6] | (b[7] << 8) : (b[4] | (b[5] << 8) | (b[6] << 16)) + b[7] * 16777216;
  return len > 0 && len < 1024 && len <= b.length;
}
