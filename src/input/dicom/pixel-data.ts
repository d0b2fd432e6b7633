// Pulls the single frame's bytes out of Pixel Data, checking every length against the file
// before anything is decoded, and turns decoded samples into stored values.
import type { Element } from 'dicom-parser';
import { InputError } from '../../errors.js';

const UNDEFINED_LENGTH = 0xffffffff;

/**
 * Native (uncompressed) Pixel Data: exactly `expected` bytes starting at the element's value.
 * Throws 'truncated' when the element or the file holds fewer bytes than the header implies.
 */
export function nativePixelBytes(byteArray: Uint8Array, el: Element, expected: number, name: string): Uint8Array {
  if (el.length === UNDEFINED_LENGTH || el.hadUndefinedLength) {
    throw new InputError(name, 'corrupt', 'not a valid DICOM data set: uncompressed Pixel Data has an undefined length');
  }
  const inFile = Math.max(0, byteArray.length - el.dataOffset);
  const got = Math.min(el.length, inFile);
  if (got < expected) {
    const where = el.length > inFile ? `Pixel Data declares ${el.length} bytes but the file ends after ${inFile}` : `Pixel Data holds ${el.length} bytes`;
    throw new InputError(name, 'truncated', `pixel data is truncated: expected ${expected} bytes, got ${got} (${where})`);
  }
  return byteArray.subarray(el.dataOffset, el.dataOffset + expected);
}

/**
 * Encapsulated Pixel Data: walks the Item list (Basic Offset Table, then fragments, then the
 * Sequence Delimiter) with bounds checks and joins the fragments into one frame's codestream.
 * Throws 'truncated' when an item runs past the end of the file or the delimiter is missing.
 */
export function encapsulatedFrame(byteArray: Uint8Array, el: Element, name: string): Uint8Array {
  const end = byteArray.length;
  const view = new DataView(byteArray.buffer, byteArray.byteOffset, byteArray.byteLength);
  let pos = el.dataOffset;
  const frags: Array<[number, number]> = [];
  let total = 0;
  for (let item = 0; ; item++) {
    if (pos + 8 > end) {
      throw new InputError(name, 'truncated', `pixel data is truncated: the file ends inside the encapsulated Pixel Data after ${frags.length} fragment(s), before the sequence delimiter`);
    }
    const group = view.getUint16(pos, true);
    const elem = view.getUint16(pos + 2, true);
    const len = view.getUint32(pos + 4, true);
    if (group === 0xfffe && elem === 0xe0dd) break;
    if (group !== 0xfffe || elem !== 0xe000 || len === UNDEFINED_LENGTH) {
      throw new InputError(name, 'corrupt', `not a valid DICOM data set: encapsulated Pixel Data item ${item + 1} has tag (${hex(group)},${hex(elem)}), expected an Item (FFFE,E000)`);
    }
    pos += 8;
    if (pos + len > end) {
      const what = item === 0 ? 'the Basic Offset Table' : `fragment ${item}`;
      throw new InputError(name, 'truncated', `pixel data is truncated: ${what} declares ${len} bytes but only ${end - pos} remain in the file`);
    }
    if (item > 0 && len > 0) {
      frags.push([pos, len]);
      total += len;
    }
    pos += len;
  }
  if (frags.length === 0) throw new InputError(name, 'corrupt', 'not a valid DICOM image: encapsulated Pixel Data has no fragments');
  if (frags.length === 1) return byteArray.subarray(frags[0][0], frags[0][0] + frags[0][1]);
  const out = new Uint8Array(total);
  let at = 0;
  for (const [p, l] of frags) {
    out.set(byteArray.subarray(p, p + l), at);
    at += l;
  }
  return out;
}

function hex(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, '0');
}

/** Stored values in the dtype the header implies (8 or 16 bits, signed or not). */
export type StoredArray = Uint8Array | Int8Array | Uint16Array | Int16Array;

/**
 * Interprets `n` samples of `bytesPerSample` (1 or 2) bytes as stored values: masks to
 * BitsStored (bits above it may hold overlays or garbage) and sign-extends when
 * PixelRepresentation is 1. The result dtype follows BitsAllocated.
 */
export function toStoredValues(
  src: Uint8Array, n: number, bytesPerSample: number, bigEndian: boolean,
  bitsAllocated: number, bitsStored: number, signed: boolean,
): StoredArray {
  const out: StoredArray = bitsAllocated <= 8 ? (signed ? new Int8Array(n) : new Uint8Array(n)) : (signed ? new Int16Array(n) : new Uint16Array(n));
  const mask = bitsStored >= 32 ? 0xffffffff : (1 << bitsStored) - 1;
  const sign = 1 << (bitsStored - 1);
  const full = 1 << bitsStored;
  if (bytesPerSample === 1) {
    for (let i = 0; i < n; i++) {
      const v = src[i] & mask;
      out[i] = signed && v & sign ? v - full : v;
    }
  } else {
    const hi = bigEndian ? 0 : 1;
    const lo = bigEndian ? 1 : 0;
    for (let i = 0; i < n; i++) {
      const v = ((src[2 * i + hi] << 8) | src[2 * i + lo]) & mask;
      out[i] = signed && v & sign ? v - full : v;
    }
  }
  return out;
}
