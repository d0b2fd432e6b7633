/**
 * The input gate: one module and one result type for every entry point. Layers: DICOM header
 * facts (`assessHeader`), image facts (`measureImage` + `assessImage`), and the learned check
 * (`fitGate` at training time, `assessFeatures` per prediction); `combineGate` gives the verdict.
 */
export type { GateLevel, GateReason, GateReasonCode, GateResult, GateVerdict, HeaderCheck, HeaderFacts, ImageCheck, ImageFacts, LayerCheck, OodCheck, OodFacts } from './types.js';
export { GATE_DEFAULTS, gateSettings, type GateSettings } from './settings.js';
export { assessHeader, headerFacts, type DicomMeta } from './header.js';
export { assessImage, measureGrey, pixelStats } from './image.js';
export { measureImage } from './measure-file.js';
export { fitDensity, scoreRows, ledoitWolf, transformFeature, type DensityModel, type FeatureRows } from './density.js';
export {
  fitGate, fitGateCrossFitted, fitViewCalibration, crossFitScores, gateFromJSON, gateToJSON, scoreFeatures, assessFeatures, assessScore, logNormalFit, empiricalQuantile,
  GATE_FORMAT, GATE_VERSION, GATE_METHOD, type GateModel, type GateCalibration, type FitGateOptions, type CrossFitOptions, type CrossFitCalibration, type ValidationCalibration, type ViewCalibration,
} from './ood.js';
export { combineGate, gateAllows, gateFlags, refusesOrWould, NO_OOD_MODEL, type GateParts } from './combine.js';
export { gateFiles, inspectImage, measureSymmetry, type GateFilesOptions, type GatedFile } from './gate-files.js';
export { asymmetry, mirrorSymmetry, planeSymmetry, symmetryGrid, SYMMETRY_GRID, type SymmetryGrid } from './symmetry.js';
export { pooledRows } from './pooled.js';
export { groupedFolds } from './folds.js';
