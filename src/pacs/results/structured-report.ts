/**
 * The result as a Comprehensive SR following TID 1500 (Measurement Report), as the IHE AI Results
 * profile uses it: observation context naming deep-covid as the observing device, an image
 * library with the source image, and one measurement group holding the algorithm's identity
 * (TID 4019), P(COVID) inferred from the source image, the threshold and its meaning, the call,
 * the input gate's verdict and the research-use statement. A refused image gets the same report
 * with the verdict and its reasons and no probability or call.
 */
import { uuidUid, writeP10, type Naturalized } from '../dicom-io.js';
import type { GateVerdict, PacsModelInfo, PacsPrediction, SourceHeader } from '../types.js';
import { CODES, PRIVATE_SCHEME, coded, container, image, num, text, uidref, type Code, type ContentItem } from './codes.js';
import { commonAttributes, resultUids, type ResultObject } from './common.js';
import { RESEARCH_NOTICE } from './wording.js';

export const COMPREHENSIVE_SR = '1.2.840.10008.5.1.4.1.1.88.33';

const GATE_CODE: Record<GateVerdict['status'], Code> = {
  passed: CODES.gatePassed,
  warned: CODES.gateWarned,
  refused: CODES.gateRefused,
  'not-assessed': CODES.gateNotAssessed,
};

/** The tracking identifier of the measurement group (readers find deep-covid's group by it). */
export const TRACKING_IDENTIFIER = 'deep-covid COVID-19 classification';

/** Builds the structured report of one prediction on one source image. */
export function buildStructuredReport(src: SourceHeader, pred: PacsPrediction, model: PacsModelInfo, now: Date): ResultObject {
  const group: ContentItem[] = [
    text('HAS OBS CONTEXT', CODES.trackingIdentifier, TRACKING_IDENTIFIER),
    uidref('HAS OBS CONTEXT', CODES.trackingUid, uuidUid('deep-covid tracking', src.sopInstanceUid, model.runId)),
    coded('CONTAINS', CODES.finding, CODES.covid19),
    text('HAS CONCEPT MOD', CODES.algorithmName, model.name),
    text('HAS CONCEPT MOD', CODES.algorithmVersion, model.version),
    text('HAS CONCEPT MOD', CODES.algorithmParameters, `backbone weights sha256 ${model.backboneSha256}`),
    text('HAS CONCEPT MOD', CODES.algorithmParameters, `head weights sha256 ${model.headSha256}`),
    coded('HAS CONCEPT MOD', CODES.findingSite, CODES.lung),
  ];
  if (pred.score) {
    const s = pred.score;
    group.push(
      num('CONTAINS', CODES.probability, s.probability, [image('INFERRED FROM', CODES.sourceOfMeasurement, src.sopClassUid, src.sopInstanceUid)]),
      num('CONTAINS', CODES.threshold, s.threshold),
      text('CONTAINS', CODES.thresholdMeaning, model.thresholdMeaning),
      coded('CONTAINS', CODES.call, s.label === 'covid' ? CODES.positive : CODES.negative),
    );
  }
  group.push(coded('CONTAINS', CODES.gate, GATE_CODE[pred.gate.status]));
  for (const r of pred.gate.reasons) group.push(text('CONTAINS', CODES.gateReason, r));
  if (model.warning) group.push(text('CONTAINS', CODES.comment, model.warning));
  group.push(text('CONTAINS', CODES.researchUse, RESEARCH_NOTICE));

  const root = container(null, CODES.imagingMeasurementReport, [
    coded('HAS CONCEPT MOD', CODES.language, CODES.englishUS),
    coded('HAS OBS CONTEXT', CODES.observerType, CODES.device),
    uidref('HAS OBS CONTEXT', CODES.deviceObserverUid, uuidUid('deep-covid device', model.runId)),
    text('HAS OBS CONTEXT', CODES.deviceObserverName, 'deep-covid'),
    text('HAS OBS CONTEXT', CODES.deviceObserverManufacturer, 'deep-covid project (research software)'),
    text('HAS OBS CONTEXT', CODES.deviceObserverModelName, model.name),
    coded('HAS CONCEPT MOD', CODES.procedureReported, CODES.chestXray),
    container('CONTAINS', CODES.imageLibrary, [
      container('CONTAINS', CODES.imageLibraryGroup, [image('CONTAINS', null, src.sopClassUid, src.sopInstanceUid)]),
    ]),
    container('CONTAINS', CODES.imagingMeasurements, [container('CONTAINS', CODES.measurementGroup, group)]),
  ]);

  const { series, instance } = resultUids(src, 'sr', model);
  const dataset: Naturalized = {
    ...commonAttributes(src, 'sr', COMPREHENSIVE_SR, model, now),
    Modality: 'SR',
    ReferencedPerformedProcedureStepSequence: [],
    CompletionFlag: 'COMPLETE',
    VerificationFlag: 'UNVERIFIED',
    PerformedProcedureCodeSequence: [],
    CurrentRequestedProcedureEvidenceSequence: [{
      StudyInstanceUID: src.studyInstanceUid,
      ReferencedSeriesSequence: [{
        SeriesInstanceUID: src.seriesInstanceUid,
        ReferencedSOPSequence: [{ ReferencedSOPClassUID: src.sopClassUid, ReferencedSOPInstanceUID: src.sopInstanceUid }],
      }],
    }],
    ContentTemplateSequence: [{ MappingResource: 'DCMR', TemplateIdentifier: '1500' }],
    CodingSchemeIdentificationSequence: [{ ...PRIVATE_SCHEME }],
    ...root,
  };
  return { kind: 'sr', sopClassUid: COMPREHENSIVE_SR, sopInstanceUid: instance, seriesInstanceUid: series, studyInstanceUid: src.studyInstanceUid, dataset, bytes: writeP10(dataset) };
}
