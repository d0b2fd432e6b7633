/**
 * Minimal reader for (uncompressed) tar archives as npm packs them: ustar headers, pax `path`
 * records and GNU long names. Only regular files are returned; directories, links and other
 * entries are skipped. Enough to take a model out of an npm tarball without a tar dependency.
 */

const BLOCK = 512;

function text(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return new TextDecoder().decode(b.subarray(off, end));
}

/** A numeric header field: octal text, or GNU base-256 when the first byte has its top bit set. */
function number(b: Uint8Array, off: number, len: number): number {
  if (b[off] & 0x80) {
    let v = b[off] & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i];
    return v;
  }
  const s = text(b, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new Error(`bad octal field "${s}"`);
  return parseInt(s, 8);
}

/** The header checksum: sum of all header bytes with the checksum field read as spaces. */
function checksumOk(b: Uint8Array, off: number): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : b[off + i];
  return sum === number(b, off + 148, 8);
}

/** `path` from a pax extended header ("<len> path=<value>\n" records). */
function paxPath(data: Uint8Array): string | undefined {
  const s = new TextDecoder().decode(data);
  let i = 0;
  let path: string | undefined;
  while (i < s.length) {
    const sp = s.indexOf(' ', i);
    const len = Number(s.slice(i, sp));
    if (sp < 0 || !Number.isInteger(len) || len <= 0) break;
    const rec = s.slice(sp + 1, i + len - 1);
    if (rec.startsWith('path=')) path = rec.slice(5);
    i += len;
  }
  return path;
}

/**
 * Reads the regular files of a tar archive into a map from path to bytes (views into `bytes`).
 * Throws a plain Error on a damaged archive (bad checksum, entry past the end).
 */
export function readTar(bytes: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  let off = 0;
  let longName: string | undefined;
  while (off + BLOCK <= bytes.length) {
    if (bytes.subarray(off, off + BLOCK).every((v) => v === 0)) break; // end-of-archive marker
    if (!checksumOk(bytes, off)) throw new Error(`tar header at byte ${off} has a bad checksum`);
    const size = number(bytes, off + 124, 12);
    const type = String.fromCharCode(bytes[off + 156] || 0x30);
    const start = off + BLOCK;
    if (start + size > bytes.length) throw new Error(`tar entry at byte ${off} runs past the end of the archive`);
    const data = bytes.subarray(start, start + size);
    off = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      longName = paxPath(data) ?? longName;
      continue;
    }
    if (type === 'L') {
      longName = text(data, 0, data.length);
      continue;
    }
    const magic = text(bytes, start - BLOCK + 257, 6);
    const prefix = magic === 'ustar' ? text(bytes, start - BLOCK + 345, 155) : '';
    const name = text(bytes, start - BLOCK, 100);
    const path = longName ?? (prefix ? `${prefix}/${name}` : name);
    longName = undefined;
    if (type === '0' || type === '7') files.set(path, data);
  }
  return files;
}
