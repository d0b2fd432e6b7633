// What a DICOM object without Pixel Data is, in words: DICOMDIRs, structured reports, RT plans and
// other non-image objects reach an X-ray reader through PACS exports and folders of files, and
// "not an image" must say which kind of file it is (SOP classes from PS3.4 Annex B and PS3.6 Annex A).
import type { InputProblem } from '../../errors.js';
import type { DicomHeader } from './parse.js';

/** SOP classes (exact UID, or a UID prefix ending in ".") of objects that never hold an image. */
const NON_IMAGE: ReadonlyArray<readonly [string, string]> = [
  ['1.2.840.10008.1.3.10', 'a DICOMDIR (a media directory listing other files)'],
  ['1.2.840.10008.5.1.4.1.1.88.11', 'a DICOM Structured Report (Basic Text SR)'],
  ['1.2.840.10008.5.1.4.1.1.88.22', 'a DICOM Structured Report (Enhanced SR)'],
  ['1.2.840.10008.5.1.4.1.1.88.33', 'a DICOM Structured Report (Comprehensive SR)'],
  ['1.2.840.10008.5.1.4.1.1.88.59', 'a DICOM Key Object Selection document'],
  ['1.2.840.10008.5.1.4.1.1.88.', 'a DICOM Structured Report'],
  ['1.2.840.10008.5.1.4.1.1.481.5', 'a DICOM RT Plan (radiotherapy treatment plan)'],
  ['1.2.840.10008.5.1.4.1.1.481.3', 'a DICOM RT Structure Set (radiotherapy contours)'],
  ['1.2.840.10008.5.1.4.1.1.481.', 'a DICOM radiotherapy object'],
  ['1.2.840.10008.5.1.4.1.1.11.', 'a DICOM Presentation State (display settings for another image)'],
  ['1.2.840.10008.5.1.4.1.1.104.', 'an encapsulated document (PDF, CDA or 3-D model) in DICOM'],
  ['1.2.840.10008.5.1.4.1.1.9.', 'a DICOM waveform (ECG, audio or similar)'],
  ['1.2.840.10008.5.1.4.1.1.66', 'a DICOM Raw Data object'],
  ['1.2.840.10008.5.1.4.1.1.67', 'a DICOM Real World Value Mapping object'],
];

function kindOf(uid: string | undefined): string | undefined {
  if (!uid) return undefined;
  for (const [key, kind] of NON_IMAGE) if (key.endsWith('.') ? uid.startsWith(key) : uid === key) return kind;
  return undefined;
}

/**
 * Why a DICOM data set without Pixel Data (7FE0,0010) cannot be read: a non-image object
 * ('not-an-image', named), or an image whose pixels are missing ('corrupt').
 */
export function describeNonImage(h: DicomHeader): { problem: InputProblem; message: string } {
  const uid = h.sopClassUid;
  const kind = kindOf(uid);
  if (kind) return { problem: 'not-an-image', message: `not an image: this is ${kind} (SOP class ${uid}) and holds no Pixel Data (7FE0,0010)` };
  if (h.rows === 0 || h.columns === 0) {
    return { problem: 'not-an-image', message: `not an image: a DICOM object${uid ? ` of SOP class ${uid}` : ''} with neither Rows/Columns nor Pixel Data (7FE0,0010)` };
  }
  return { problem: 'corrupt', message: 'not a valid DICOM image: no Pixel Data (7FE0,0010)' };
}
