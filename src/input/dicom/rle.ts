// DICOM RLE Lossless (PS3.5 Annex G): a 64-byte header of segment offsets, then one PackBits
// segment per byte plane, most significant byte first.

/** Why an RLE frame cannot be decoded (the caller turns it into an InputError). */
export class RleError extends Error {}

/**
 * Decodes one RLE frame of `n` samples of `bytesPerSample` bytes into little-endian bytes
 * (the layout native Pixel Data has), so the same stored-value conversion applies.
 */
export function decodeRle(frame: Uint8Array, n: number, bytesPerSample: number): Uint8Array {
  if (frame.length < 64) throw new RleError('RLE header is shorter than 64 bytes');
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const segments = view.getUint32(0, true);
  if (segments !== bytesPerSample) {
    throw new RleError(`RLE frame has ${segments} segments, expected ${bytesPerSample} (one per byte of a single-sample pixel)`);
  }
  const out = new Uint8Array(n * bytesPerSample);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : frame.length;
    if (start < 64 || start > end || end > frame.length) throw new RleError(`RLE segment ${s + 1} offsets (${start}..${end}) are outside the frame`);
    // Segment 0 is the most significant byte; in little-endian output that is the last byte.
    const shift = bytesPerSample - 1 - s;
    unpackBits(frame, start, end, out, shift, bytesPerSample, n, s + 1);
  }
  return out;
}

function unpackBits(src: Uint8Array, start: number, end: number, out: Uint8Array, off: number, stride: number, n: number, seg: number): void {
  let i = start;
  let o = 0;
  while (o < n && i < end) {
    const h = src[i++];
    if (h < 128) {
      const count = h + 1;
      if (i + count > end) throw new RleError(`RLE segment ${seg}: literal run overruns the segment`);
      // Output past n (encoder padding) is dropped, as other readers do.
      const take = Math.min(count, n - o);
      for (let k = 0; k < take; k++) out[(o + k) * stride + off] = src[i + k];
      o += take;
      i += count;
    } else if (h > 128) {
      const count = 257 - h;
      if (i >= end) throw new RleError(`RLE segment ${seg}: repeat run overruns the segment`);
      const v = src[i++];
      const take = Math.min(count, n - o);
      for (let k = 0; k < take; k++) out[(o++) * stride + off] = v;
    }
  }
  if (o < n) throw new RleError(`RLE segment ${seg} decodes to ${o} bytes, expected ${n}`);
}
