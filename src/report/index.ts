/**
 * Reports of deep-covid runs and reproduce folders: the paper's figures and tables rendered
 * headlessly (Vega-Lite → SVG → PNG), one self-contained HTML page, a Markdown version, and a
 * model card.
 */
export { writeRunReport, buildRunReport } from './run-report.js';
export { writeReproduceReport, buildReproduceReport, loadReproduceFolder } from './reproduce-report.js';
export type { ReproduceModel } from './reproduce-report.js';
export { loadReportRun, parseHistory, parsePredictions } from './run-data.js';
export type { ReportRun, PredictionRow, HistoryRow, ExplanationImage } from './run-data.js';
export { buildModelCard, findHazards, modelCardHtml, modelCardMarkdown, AUC_GAP, INTENDED_USE, PRIVACY_NOTE } from './model-card.js';
export type { CardSource, Hazards } from './model-card.js';
export type { ModelCard, CardHazard } from './card-types.js';
export { reportHtml, writeReport } from './document.js';
export type { ReportDocument, ReportFigure } from './document.js';
export { reportAfterRun } from './after-run.js';
