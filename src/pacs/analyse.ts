/**
 * One source object in, its DICOM results out: read the header, keep frontal chest films,
 * predict, and build the structured report and the captioned heatmap. Shared by the DICOMweb
 * and DIMSE paths. Nothing is written anywhere; logs get only an opaque reference.
 */
import { DeepCovidError } from '../errors.js';
import { sha256Hex } from '../util/hash.js';
import type { PacsModel } from './model.js';
import type { ResultObject } from './results/common.js';
import { buildSecondaryCapture } from './results/secondary-capture.js';
import { buildStructuredReport } from './results/structured-report.js';
import { chestFilmCheck, readSourceHeader } from './source.js';
import type { PacsPrediction } from './types.js';

/**
 * An opaque, stable reference to a DICOM UID for logs and the watch state: the first 16 hex
 * digits of its sha256. It lets a log line be matched to a study without carrying the UID.
 */
export function uidRef(uid: string): string {
  return sha256Hex(`deep-covid ref\0${uid}`).slice(0, 16);
}

/** What happened to one source object. */
export type InstanceOutcome =
  | { status: 'skipped'; ref: string; studyRef: string; reason: string }
  | { status: 'analysed'; ref: string; studyRef: string; prediction: PacsPrediction; results: ResultObject[]; notes: string[] }
  | { status: 'failed'; ref: string; studyRef: string | null; error: string };

/** Options of `analyseInstance`. */
export interface AnalyseOptions {
  /** Largest width x height accepted, checked before decoding. */
  maxPixels?: number;
  /** Creation time written into the results (tests fix it). */
  now?: Date;
}

/**
 * Analyses one Part 10 object. `ref` names it in messages when its header cannot be read.
 * Never throws for a bad object: the outcome says what went wrong.
 */
export async function analyseInstance(model: PacsModel, bytes: Uint8Array, ref: string, opts: AnalyseOptions = {}): Promise<InstanceOutcome> {
  let header;
  try {
    header = readSourceHeader(bytes, `instance ${ref}`);
  } catch (err) {
    if (err instanceof DeepCovidError) return { status: 'failed', ref, studyRef: null, error: err.message };
    throw err;
  }
  const id = { ref: uidRef(header.sopInstanceUid), studyRef: uidRef(header.studyInstanceUid) };
  const check = chestFilmCheck(header);
  if (!check.eligible) return { status: 'skipped', ...id, reason: check.reason };
  const prediction = await model.predict({ bytes, name: `instance ${id.ref}` }, { maxPixels: opts.maxPixels });
  const now = opts.now ?? new Date();
  const results = [buildStructuredReport(header, prediction, model.info, now)];
  const notes: string[] = [];
  const sc = await buildSecondaryCapture(header, prediction, model.info, now);
  if (sc) results.push(sc);
  else if (prediction.score?.overlayPng) notes.push('no font is installed, so the captioned heatmap image was not made (install fonts-dejavu-core)');
  return { status: 'analysed', ...id, prediction, results, notes };
}
