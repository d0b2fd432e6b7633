/**
 * What every result object shares: the source's patient and study (so it files into the same
 * study), a new series per kind of result, deep-covid as the equipment, and UIDs derived from the
 * source and the model so storing the same result twice replaces it instead of duplicating it.
 */
import { dicomDateTime, uuidUid, type Naturalized } from '../dicom-io.js';
import { RESULT_MANUFACTURER } from '../source.js';
import type { PacsModelInfo, SourceHeader } from '../types.js';
import { SERIES_DESCRIPTION } from './wording.js';

export type ResultKind = 'sr' | 'sc';

/** One result object, ready to store. */
export interface ResultObject {
  kind: ResultKind;
  sopClassUid: string;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  /** The dataset (dcmjs naturalized form), for sending over DIMSE. */
  dataset: Naturalized;
  /** The same as a Part 10 file (Explicit VR Little Endian), for STOW-RS. */
  bytes: Uint8Array;
}

/** Series numbers of the result series, high so they sort after the acquisition's own. */
const SERIES_NUMBER: Record<ResultKind, number> = { sr: 9901, sc: 9902 };

/** UIDs of a result: its series is one per study, kind and model; its instance one per source image, kind and model. */
export function resultUids(src: SourceHeader, kind: ResultKind, model: PacsModelInfo): { series: string; instance: string } {
  const modelKey = `${model.runId}\0${model.headSha256}\0${model.backboneSha256}`;
  return {
    series: uuidUid('deep-covid series', kind, src.studyInstanceUid, modelKey),
    instance: uuidUid('deep-covid instance', kind, src.sopInstanceUid, modelKey),
  };
}

/** Patient, General Study, series, General Equipment and SOP Common attributes of a result. */
export function commonAttributes(src: SourceHeader, kind: ResultKind, sopClassUid: string, model: PacsModelInfo, now: Date): Naturalized {
  const { series, instance } = resultUids(src, kind, model);
  const { date, time } = dicomDateTime(now);
  return {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: sopClassUid,
    SOPInstanceUID: instance,
    InstanceCreationDate: date,
    InstanceCreationTime: time,
    ...src.patientStudy,
    StudyInstanceUID: src.studyInstanceUid,
    SeriesInstanceUID: series,
    SeriesNumber: SERIES_NUMBER[kind],
    SeriesDescription: SERIES_DESCRIPTION[kind],
    SeriesDate: date,
    SeriesTime: time,
    InstanceNumber: src.instanceNumber,
    ContentDate: date,
    ContentTime: time,
    Manufacturer: RESULT_MANUFACTURER,
    ManufacturerModelName: model.name.slice(0, 64),
    SoftwareVersions: model.version.slice(0, 64),
  };
}
