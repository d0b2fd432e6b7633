// Reads the DICOM conformance fixtures and their decode oracle from /work/shared at run time.
import { parseNpy } from '../../src/util/npy.js';
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

/** The oracle array of a fixture (.npy beside it in expected/), as float64 values. */
export function readNpy(file: string): { shape: number[]; dtype: string; values: Float64Array } {
  const arr = parseNpy(readFileSync(`${DICOM_DIR}expected/${file.replace(/\.dcm$/, '.npy')}`));
  return { shape: arr.shape, dtype: arr.dtype, values: Float64Array.from(arr.data) };
}
