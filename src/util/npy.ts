/**
 * Minimal NumPy .npy reader (format 1.0/2.0/3.0, C order, little-endian numeric dtypes).
 * Reads reference tensors in tests and benchmarks, and the feature cache's entries.
 */
export interface NpyArray {
  dtype: string;
  shape: number[];
  data: Float32Array | Float64Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Uint8Array | Int8Array;
}

const CTORS: Record<string, new (buf: ArrayBuffer, off: number, len: number) => NpyArray['data']> = {
  '<f4': Float32Array, '<f8': Float64Array, '<i2': Int16Array, '<u2': Uint16Array, '<i4': Int32Array,
  '<u4': Uint32Array, '|u1': Uint8Array, '|i1': Int8Array, '<u1': Uint8Array, '<i1': Int8Array,
};

/** Parses the bytes of a .npy file. */
export function parseNpy(bytes: Uint8Array): NpyArray {
  if (bytes[0] !== 0x93 || String.fromCharCode(...bytes.subarray(1, 6)) !== 'NUMPY') throw new Error('not a .npy file');
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '';
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!descr || !CTORS[descr]) throw new Error(`unsupported .npy dtype ${descr}`);
  if (fortran) throw new Error('Fortran-order .npy is not supported');
  const Ctor = CTORS[descr];
  const offset = start + headerLen;
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length < offset + count * (Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT) throw new Error('.npy data is truncated');
  // a real copy (Buffer.slice would be a view) so the typed array is aligned whatever the header length
  const copy = Uint8Array.prototype.slice.call(bytes, offset, offset + count * (Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT);
  return { dtype: descr, shape, data: new Ctor(copy.buffer, 0, count) };
}

/**
 * Encodes a float32 C-order array as .npy (format 1.0), so cached features open in NumPy.
 * `spare` zero bytes are left at the end for the caller (NumPy ignores bytes after the array).
 */
export function encodeNpyF32(data: Float32Array, shape: number[], spare = 0): Uint8Array {
  const head = npyHeaderF32(shape);
  const out = new Uint8Array(head.length + data.byteLength + spare);
  out.set(head, 0);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), head.length);
  return out;
}

/**
 * The bytes before the data of a float32 C-order .npy file of this shape (magic, version, header
 * padded to 64 bytes): with the array's own bytes after it, a whole .npy file.
 */
export function npyHeaderF32(shape: number[]): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  return out;
}
