/**
 * PACS integration: read chest films from a PACS over DICOMweb (scan, watch) or DICOM networking
 * (listen), predict, and store the results back as DICOM in the same study (a TID 1500
 * structured report and a captioned heatmap secondary capture). Research software, not a
 * diagnostic device.
 */
export { analyseInstance, uidRef, type AnalyseOptions, type InstanceOutcome } from './analyse.js';
export { DicomWebClient, jsonValue, type DicomJson, type DicomWebAuth, type DicomWebOptions, type StowResult } from './dicomweb/client.js';
export { buildMultipart, contentTypeParam, parseMultipart, type Part } from './dicomweb/multipart.js';
export { scanDicomWeb, studyDate, watchDicomWeb, type ScanOptions, type WatchOptions } from './dicomweb/scan.js';
export { ACCEPTED_SOP_CLASSES, listenDimse, readableSyntax, type DimseListener, type ListenOptions } from './dimse/listener.js';
export { storeScu, type DicomPeer, type StoreScuOptions } from './dimse/store-scu.js';
export { describeCounts, emptyCounts, type PacsCounts, type PacsEvent } from './events.js';
export { gateVerdict, loadPacsModel, type PacsModel, type PacsModelOptions } from './model.js';
export { COMPREHENSIVE_SR, TRACKING_IDENTIFIER, buildStructuredReport } from './results/structured-report.js';
export { SECONDARY_CAPTURE, buildSecondaryCapture } from './results/secondary-capture.js';
export { resultUids, type ResultObject } from './results/common.js';
export { CODES } from './results/codes.js';
export { RESEARCH_NOTICE } from './results/wording.js';
export { CHEST_FILM_MODALITIES, RESULT_MANUFACTURER, chestFilmCheck, readSourceHeader } from './source.js';
export { WatchState } from './watch-state.js';
export type { GateVerdict, PacsModelInfo, PacsPrediction, PacsScore, SourceHeader } from './types.js';
