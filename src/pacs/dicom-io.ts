/**
 * DICOM Part 10 reading and writing through dcmjs, in one typed place: headers without pixel
 * data, datasets (dcmjs "naturalized" objects) written as files, and a network dataset wrapped
 * into a file by prefixing a File Meta group.
 */
import dcmjs from 'dcmjs';
import { randomBytes, createHash } from 'node:crypto';
import { InputError } from '../errors.js';

/** A dataset in dcmjs's naturalized form: keyword → value, sequences as arrays of objects. */
export type Naturalized = Record<string, unknown>;

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
/** deep-covid's implementation class UID (uuidUid('deep-covid implementation class')). */
export const IMPLEMENTATION_CLASS_UID = '2.25.57781123566660609696027539557572951472';
export const IMPLEMENTATION_VERSION = 'DEEPCOVID';

const { DicomDict, DicomMessage, DicomMetaDictionary } = dcmjs.data;
// dcmjs logs tolerated header quirks to the console; the library never prints, and a warning could carry header values
dcmjs.log?.setLevel?.('silent');
dcmjs.log?.getLogger?.('validation.dcmjs')?.setLevel?.('silent');

/** Reads the header of a Part 10 file (everything before Pixel Data), naturalized. */
export function readHeader(bytes: Uint8Array, name: string): { meta: Naturalized; dataset: Naturalized } {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  try {
    const dict = DicomMessage.readFile(ab, { untilTag: '7FE00010', includeUntilTagValue: false, ignoreErrors: false, noCopy: false, forceStoreRaw: false });
    return { meta: DicomMetaDictionary.naturalizeDataset(dict.meta), dataset: DicomMetaDictionary.naturalizeDataset(dict.dict) };
  } catch (err) {
    throw new InputError(name, 'corrupt', `not a readable DICOM Part 10 file (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}

/** Writes a naturalized dataset as a Part 10 file in Explicit VR Little Endian. */
export function writeP10(dataset: Naturalized): Uint8Array {
  const meta = DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: dataset.SOPClassUID,
    MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION,
  });
  const dict = new DicomDict(meta);
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return new Uint8Array(dict.write({ fragmentMultiframe: false }));
}

/**
 * A Part 10 file from a dataset received over the network (already in `transferSyntaxUid`,
 * deflated if that syntax says so): preamble, File Meta group, then the bytes unchanged.
 */
export function wrapNetworkDataset(datasetBytes: Uint8Array, sopClassUid: string, sopInstanceUid: string, transferSyntaxUid: string): Uint8Array {
  const meta = DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: transferSyntaxUid,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION,
  });
  const dict = new DicomDict(meta);
  dict.dict = {};
  const head = new Uint8Array(dict.write());
  const out = new Uint8Array(head.length + datasetBytes.length);
  out.set(head, 0);
  out.set(datasetBytes, head.length);
  return out;
}

/**
 * A UUID-derived UID (2.25.<128-bit number>). With `parts`, the UUID is a hash of them (UUID
 * version 8), so the same source and model always give the same result UIDs: storing a result
 * twice replaces it instead of duplicating it. Without, it is random (version 4).
 */
export function uuidUid(...parts: string[]): string {
  const b = parts.length ? createHash('sha256').update(parts.join('\0')).digest().subarray(0, 16) : randomBytes(16);
  b[6] = (b[6] & 0x0f) | (parts.length ? 0x80 : 0x40);
  b[8] = (b[8] & 0x3f) | 0x80;
  return `2.25.${BigInt(`0x${b.toString('hex')}`).toString()}`;
}

/** DICOM DA and TM of a moment (local time, as DICOM dates are). */
export function dicomDateTime(d: Date): { date: string; time: string } {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return { date: `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}`, time: `${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}` };
}
