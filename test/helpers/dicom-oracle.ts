// Reads the DICOM conformance fixtures and their decode oracle from /work/shared at run time.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** /work/shared/data/dicom/ resolved from the project root. */
export const DICOM_DIR = fileURLToPath(new URL('../../../shared/data/dicom/', import.meta.url));
/** /work/shared/data/bad-inputs/. */
export const BAD_INPUTS_DIR = fileURLToPath(new URL('../../../shared/data/bad-inputs/', import.meta.url));

/** The fields of `expected/<base>.json` the tests use. */
export interface OracleFacts {
  file: string;
  rows: number;
  columns: number;
  bits_allocated: number;
  bits_stored: number;
  pixel_representation: number;
  photometric_interpretation: string;
  modality: string | null;
  transfer_syntax_uid: string;
  lossy_transfer_syntax: boolean;
  rescale_slope: number | null;
  rescale_intercept: number | null;
  window_center: number | null;
  window_width: number | null;
  has_voi_lut_sequence: boolean;
  raw: { dtype: string; min: number; max: number; sha256: string };
  display: { mean: number; inverted_for_monochrome1: boolean };
}

export function readFixture(file: string): Uint8Array {
  const b = readFileSync(DICOM_DIR + file);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function readFacts(file: string): OracleFacts {
  return JSON.parse(readFileSync(`${DICOM_DIR}expected/${file.replace(/\.dcm$/, '.json')}`, 'utf8')) as OracleFacts;
}

/** Good fixture file names, from the oracle manifest. */
export function goodFixtures(): string[] {
  const manifest = JSON.parse(readFileSync(`${DICOM_DIR}expected/manifest.json`, 'utf8')) as { fixtures: { name: string; kind: string }[] };
  return manifest.fixtures.filter((f) => f.kind === 'good').map((f) => f.name).sort();
}

/** Minimal .npy reader (v1/v2, C order, little-endian |u1 <u2 <i2 <f8) -> Float64Array of the values. */
export function readNpy(file: string): { shape: number[]; dtype: string; values: Float64Array } {
  const b = readFileSync(`${DICOM_DIR}expected/${file.replace(/\.dcm$/, '.npy')}`);
  const major = b[6];
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + hlen;
  const header = b.subarray(major === 1 ? 10 : 12, start).toString('latin1');
  const dtype = /'descr':\s*'([^']+)'/.exec(header)![1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)![1].split(',').filter((s) => s.trim()).map(Number);
  if (/'fortran_order':\s*True/.test(header)) throw new Error('fortran order npy not supported');
  const n = shape.reduce((a, c) => a * c, 1);
  const body = b.subarray(start);
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    values[i] = dtype === '|u1' ? body[i] : dtype === '<u2' ? body.readUInt16LE(2 * i) : dtype === '<i2' ? body.readInt16LE(2 * i) : dtype === '<f8' ? body.readDoubleLE(8 * i) : NaN;
  }
  if (Number.isNaN(values[0])) throw new Error(`unsupported npy dtype ${dtype}`);
  return { shape, dtype, values };
}
