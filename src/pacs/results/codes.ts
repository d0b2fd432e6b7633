/**
 * Coded concepts of the structured report and small builders for SR content items (dcmjs
 * naturalized form). Standard codes (DCM, SCT, UCUM) where one exists; the few deep-covid
 * concepts without one use the private coding scheme 99DCOVID, declared in the report's
 * Coding Scheme Identification Sequence.
 */

/** A coded concept: code value, coding scheme designator, code meaning. */
export interface Code {
  CodeValue: string;
  CodingSchemeDesignator: string;
  CodeMeaning: string;
}

const code = (CodeValue: string, CodingSchemeDesignator: string, CodeMeaning: string): Code => Object.freeze({ CodeValue, CodingSchemeDesignator, CodeMeaning });

export const PRIVATE_SCHEME = Object.freeze({
  CodingSchemeDesignator: '99DCOVID',
  CodingSchemeName: 'deep-covid local codes',
  CodingSchemeResponsibleOrganization: 'deep-covid project (research software)',
});

const dc = (value: string, meaning: string) => code(value, PRIVATE_SCHEME.CodingSchemeDesignator, meaning);

export const CODES = Object.freeze({
  // TID 1500 Measurement Report
  imagingMeasurementReport: code('126000', 'DCM', 'Imaging Measurement Report'),
  language: code('121049', 'DCM', 'Language of Content Item and Descendants'),
  englishUS: code('en-US', 'RFC5646', 'English (United States)'),
  procedureReported: code('121058', 'DCM', 'Procedure reported'),
  chestXray: code('399208008', 'SCT', 'Plain X-ray of chest'),
  imageLibrary: code('111028', 'DCM', 'Image Library'),
  imageLibraryGroup: code('126200', 'DCM', 'Image Library Group'),
  imagingMeasurements: code('126010', 'DCM', 'Imaging Measurements'),
  measurementGroup: code('125007', 'DCM', 'Measurement Group'),
  // TID 1001/1004 observation context: the observer is a device
  observerType: code('121005', 'DCM', 'Observer Type'),
  device: code('121007', 'DCM', 'Device'),
  deviceObserverUid: code('121012', 'DCM', 'Device Observer UID'),
  deviceObserverName: code('121013', 'DCM', 'Device Observer Name'),
  deviceObserverManufacturer: code('121014', 'DCM', 'Device Observer Manufacturer'),
  deviceObserverModelName: code('121015', 'DCM', 'Device Observer Model Name'),
  // TID 1501 measurement group
  trackingIdentifier: code('112039', 'DCM', 'Tracking Identifier'),
  trackingUid: code('112040', 'DCM', 'Tracking Unique Identifier'),
  finding: code('121071', 'DCM', 'Finding'),
  covid19: code('840539006', 'SCT', 'Disease caused by severe acute respiratory syndrome coronavirus 2'),
  findingSite: code('363698007', 'SCT', 'Finding Site'),
  lung: code('39607008', 'SCT', 'Lung structure'),
  // TID 4019 algorithm identification
  algorithmName: code('111001', 'DCM', 'Algorithm Name'),
  algorithmVersion: code('111003', 'DCM', 'Algorithm Version'),
  algorithmParameters: code('111002', 'DCM', 'Algorithm Parameters'),
  // TID 300 measurement
  sourceOfMeasurement: code('121112', 'DCM', 'Source of Measurement'),
  noUnits: code('1', 'UCUM', 'no units'),
  comment: code('121106', 'DCM', 'Comment'),
  positive: code('10828004', 'SCT', 'Positive'),
  negative: code('260385009', 'SCT', 'Negative'),
  // deep-covid's own concepts
  probability: dc('P-COVID', 'Probability of COVID-19 (model output)'),
  threshold: dc('THRESHOLD', 'Operating threshold for the probability of COVID-19'),
  thresholdMeaning: dc('THRESHOLD-MEANING', 'Meaning of the operating threshold'),
  call: dc('CALL', 'COVID-19 call at the operating threshold'),
  gate: dc('GATE', 'Input gate verdict'),
  gateReason: dc('GATE-REASON', 'Input gate reason'),
  gatePassed: dc('GATE-PASSED', 'Passed'),
  gateWarned: dc('GATE-WARNED', 'Warned'),
  gateRefused: dc('GATE-REFUSED', 'Refused'),
  gateNotAssessed: dc('GATE-NOT-ASSESSED', 'Not assessed'),
  researchUse: dc('RESEARCH-USE', 'Intended use'),
  heatmapSeries: dc('HEATMAP', 'Heatmap overlay (secondary capture)'),
});

/** An SR content item in naturalized form. */
export type ContentItem = Record<string, unknown>;

type Relationship = 'CONTAINS' | 'HAS OBS CONTEXT' | 'HAS CONCEPT MOD' | 'HAS PROPERTIES' | 'INFERRED FROM';

export function container(rel: Relationship | null, concept: Code, children: ContentItem[]): ContentItem {
  return { ...(rel ? { RelationshipType: rel } : {}), ValueType: 'CONTAINER', ConceptNameCodeSequence: [concept], ContinuityOfContent: 'SEPARATE', ContentSequence: children };
}

export function text(rel: Relationship, concept: Code, value: string): ContentItem {
  return { RelationshipType: rel, ValueType: 'TEXT', ConceptNameCodeSequence: [concept], TextValue: value };
}

export function coded(rel: Relationship, concept: Code, value: Code): ContentItem {
  return { RelationshipType: rel, ValueType: 'CODE', ConceptNameCodeSequence: [concept], ConceptCodeSequence: [value] };
}

export function uidref(rel: Relationship, concept: Code, uid: string): ContentItem {
  return { RelationshipType: rel, ValueType: 'UIDREF', ConceptNameCodeSequence: [concept], UID: uid };
}

/** A dimensionless number; DS holds at most 16 characters, so the exact double goes into Floating Point Value too. */
export function num(rel: Relationship, concept: Code, value: number, children: ContentItem[] = []): ContentItem {
  return {
    RelationshipType: rel, ValueType: 'NUM', ConceptNameCodeSequence: [concept],
    MeasuredValueSequence: [{ NumericValue: decimalString(value), FloatingPointValue: value, MeasurementUnitsCodeSequence: [CODES.noUnits] }],
    ...(children.length ? { ContentSequence: children } : {}),
  };
}

export function image(rel: Relationship, concept: Code | null, sopClassUid: string, sopInstanceUid: string): ContentItem {
  return {
    RelationshipType: rel, ValueType: 'IMAGE', ...(concept ? { ConceptNameCodeSequence: [concept] } : {}),
    ReferencedSOPSequence: [{ ReferencedSOPClassUID: sopClassUid, ReferencedSOPInstanceUID: sopInstanceUid }],
  };
}

/** A number as a DICOM Decimal String (at most 16 characters). */
export function decimalString(x: number): string {
  for (let digits = 15; digits > 0; digits--) {
    const s = String(Number(x.toPrecision(digits)));
    if (s.length <= 16) return s;
  }
  return x.toExponential(6);
}
