/**
 * What the PACS layer reads from a source object's header, and which objects it analyses:
 * frontal chest radiographs (CR/DX, chest or unspecified body part, PA/AP or unspecified view).
 * The input gate, when it lands, judges the pixels as well; this is the header-only filter that
 * keeps knees, laterals and deep-covid's own results out.
 */
import { InputError } from '../errors.js';
import { readHeader, type Naturalized } from './dicom-io.js';
import type { SourceHeader } from './types.js';

/** The Manufacturer written into every result object, so they are never analysed again. */
export const RESULT_MANUFACTURER = 'deep-covid';

/** Modalities whose images are analysed. */
export const CHEST_FILM_MODALITIES = Object.freeze(['CR', 'DX']);

const CHEST_BODY_PARTS = new Set(['', 'CHEST', 'THORAX', 'LUNG']);
const FRONTAL_VIEWS = new Set(['', 'PA', 'AP']);

/** Patient and General Study module attributes copied into the results; the Type 2 ones are written empty when absent. */
const COPIED = ['PatientName', 'PatientID', 'IssuerOfPatientID', 'IssuerOfPatientIDQualifiersSequence', 'PatientBirthDate', 'PatientSex', 'StudyInstanceUID', 'StudyDate', 'StudyTime', 'ReferringPhysicianName', 'StudyID', 'AccessionNumber', 'IssuerOfAccessionNumberSequence', 'StudyDescription'] as const;
const TYPE2 = ['PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex', 'StudyDate', 'StudyTime', 'ReferringPhysicianName', 'StudyID', 'AccessionNumber'];

/** The few header fields that decide whether an object is analysed (from a file or a QIDO answer). */
export interface EligibilityFields {
  modality: string;
  bodyPartExamined: string;
  viewPosition: string;
  manufacturer: string;
}

/** Whether an object is a frontal chest film deep-covid should analyse, and if not, why (no identifiers in the reason). */
export function chestFilmCheck(f: EligibilityFields): { eligible: true } | { eligible: false; reason: string } {
  if (f.manufacturer === RESULT_MANUFACTURER) return { eligible: false, reason: 'a deep-covid result object' };
  if (!CHEST_FILM_MODALITIES.includes(f.modality)) return { eligible: false, reason: `modality ${f.modality || '(none)'} is not CR or DX` };
  const part = f.bodyPartExamined.toUpperCase();
  if (!CHEST_BODY_PARTS.has(part)) return { eligible: false, reason: `body part ${part} is not the chest` };
  const view = f.viewPosition.toUpperCase();
  if (!FRONTAL_VIEWS.has(view)) return { eligible: false, reason: `view position ${view} is not frontal (PA or AP)` };
  return { eligible: true };
}

function str(v: unknown): string {
  if (Array.isArray(v)) return v.length ? str(v[0]) : '';
  return typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '';
}

/** Reads a source object's header (not its pixels). `name` is used only in error messages. */
export function readSourceHeader(bytes: Uint8Array, name: string): SourceHeader {
  const { meta, dataset } = readHeader(bytes, name);
  return sourceHeaderOf(dataset, meta, name);
}

/** The SourceHeader of a naturalized dataset (and its File Meta group, for the SOP class/instance when the dataset lacks them). */
export function sourceHeaderOf(d: Naturalized, meta: Naturalized, name: string): SourceHeader {
  const sopClassUid = str(d.SOPClassUID) || str(meta.MediaStorageSOPClassUID);
  const sopInstanceUid = str(d.SOPInstanceUID) || str(meta.MediaStorageSOPInstanceUID);
  const studyInstanceUid = str(d.StudyInstanceUID);
  const seriesInstanceUid = str(d.SeriesInstanceUID);
  const missing = [!sopClassUid && 'SOP Class UID', !sopInstanceUid && 'SOP Instance UID', !studyInstanceUid && 'Study Instance UID', !seriesInstanceUid && 'Series Instance UID'].filter(Boolean);
  if (missing.length) throw new InputError(name, 'corrupt', `the DICOM header has no ${missing.join(', ')}: results could not be filed in its study`);
  const patientStudy: Record<string, unknown> = {};
  for (const k of COPIED) if (d[k] !== undefined) patientStudy[k] = d[k];
  for (const k of TYPE2) if (patientStudy[k] === undefined) patientStudy[k] = '';
  const imageType = Array.isArray(d.ImageType) ? d.ImageType.map(str) : str(d.ImageType) ? str(d.ImageType).split('\\') : [];
  return {
    sopClassUid, sopInstanceUid, studyInstanceUid, seriesInstanceUid,
    instanceNumber: Number.isInteger(Number(str(d.InstanceNumber))) && str(d.InstanceNumber) !== '' ? Number(str(d.InstanceNumber)) : 1,
    modality: str(d.Modality).toUpperCase(),
    bodyPartExamined: str(d.BodyPartExamined).toUpperCase(),
    viewPosition: str(d.ViewPosition).toUpperCase(),
    imageType,
    manufacturer: str(d.Manufacturer),
    patientStudy,
  };
}
