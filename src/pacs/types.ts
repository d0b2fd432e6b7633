/**
 * The shapes the PACS layer passes around: what the model said about one image (including the
 * input gate's verdict), which model said it, and what was read from the source object's header.
 */

/**
 * The input gate's verdict on an image: `passed` / `warned` images are predicted, a `refused`
 * one is not (its results say why, with no probability). `not-assessed` is for results made
 * without a gate (kept so such reports can still be written and read).
 */
export interface GateVerdict {
  status: 'passed' | 'warned' | 'refused' | 'not-assessed';
  /** Why it warned or refused, in words a reader of the report understands. */
  reasons: string[];
}

/** The model that produced a result, as the DICOM results describe it. */
export interface PacsModelInfo {
  /** e.g. "deep-covid squeezenet1_1". */
  name: string;
  /** deep-covid version and run id, e.g. "0.1.0, run squeezenet-2024-05-01". */
  version: string;
  runId: string;
  backbone: string;
  /** sha256 of the backbone ONNX weights. */
  backboneSha256: string;
  /** sha256 of the trained head (head.json of the run). */
  headSha256: string;
  weights: 'imagenet' | 'synthetic' | 'unknown';
  /** Set when the numbers must not be read as real predictions (synthetic weights). */
  warning: string | null;
  threshold: number;
  /** What the threshold means: how it was chosen and how it did on the run's test set. */
  thresholdMeaning: string;
}

/** A finished prediction on one image. */
export interface PacsScore {
  /** P(COVID) in [0, 1]. */
  probability: number;
  /** `covid` when probability >= threshold. */
  label: 'covid' | 'non';
  threshold: number;
  /** The heatmap (CAM) blended over the model's grey crop, RGB PNG; null when the backbone has no feature map. */
  overlayPng: Uint8Array | null;
  /** Which heatmap the overlay shows, and what a bright pixel means. */
  overlayMethod: string;
  overlayMeaning: string;
}

/** The model's answer on one image: refused by the gate (no score), or scored. */
export interface PacsPrediction {
  gate: GateVerdict;
  /** Null exactly when the gate refused the image. */
  score: PacsScore | null;
  /** Milliseconds the model spent (decode to overlay). */
  ms: number;
}

/** A DICOM person name as dcmjs gives it. */
export type PersonName = string | { Alphabetic?: string; Ideographic?: string; Phonetic?: string };

/** What is read from a source object's header: identifiers (copied only into results), and what decides eligibility. */
export interface SourceHeader {
  sopClassUid: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  /** The source's Instance Number (1 when absent); the results take the same number. */
  instanceNumber: number;
  modality: string;
  bodyPartExamined: string;
  viewPosition: string;
  imageType: string[];
  manufacturer: string;
  /** Patient and study module attributes, copied verbatim into the results (dcmjs naturalized form). */
  patientStudy: Record<string, unknown>;
}
