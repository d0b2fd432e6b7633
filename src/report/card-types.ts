/**
 * The model card as data: the JSON shape GET /api/model serves and the report's card is rendered
 * from (see model-card.ts). Types only, so the web page can import them too (esbuild erases type
 * imports).
 */

/** A proportion k/n with its Wilson 95% interval (null bounds when n = 0). */
export interface ApiProportion {
  k: number;
  n: number;
  estimate: number | null;
  /** Wilson score 95% interval [lower, upper]. */
  ci95: [number, number] | null;
}

/** How the run's operating threshold performed on the run's own test set. */
export interface ApiOperatingPoint {
  threshold: number;
  /** COVID test images found: tp of (tp + fn). */
  sensitivity: ApiProportion;
  /** Non-COVID test images correctly not flagged: tn of (tn + fp). */
  specificity: ApiProportion;
  confusion: { tp: number; fn: number; tn: number; fp: number };
}

/** PPV and NPV at one prevalence, with intervals (see `predictiveValues.method`). */
export interface ApiPredictiveValues {
  prevalence: number;
  ppv: { estimate: number; ci95: [number, number] } | null;
  npv: { estimate: number; ci95: [number, number] } | null;
}

/** Which model answered. */
export interface ApiModelRef {
  runId: string;
  backbone: string;
  /** 'imagenet' = real pretrained weights; 'synthetic' = no trained weights, results mean nothing. */
  weights: 'imagenet' | 'synthetic' | 'unknown';
  weightsNote: string;
  /** Set when the result must not be read as a real prediction. */
  warning: string | null;
}

/** A hazard read off the test metrics: a short title (or null) and a plain-text explanation. */
export interface CardHazard {
  title: string | null;
  text: string;
}

/** A run's model card: what was trained on what, how the threshold was chosen, how it did, what it is for. */
export interface ModelCard {
  runId: string;
  createdAt: string;
  model: ApiModelRef;
  backbone: { name: string; file: string; sha256: string; head: string; dropout: number; note: string };
  input: { formats: string; resizeShorter: number; crop: [number, number] };
  training: {
    /** The data folder's name (never a full path: the card is served to anyone who can reach the server). */
    dataset: string;
    dataHash: string;
    origin: 'manifest' | 'folders';
    counts: {
      train: { n: number; covid: number };
      trainAugmented: { n: number; covid: number };
      validation: { n: number; covid: number };
      test: { n: number; covid: number } | null;
    };
    validationSplitBy: 'patient' | 'image';
    protocol: { epochs: number; bestEpoch: number; batchSize: number; lr: number; augmentFactor: number; seed: number; classWeighting: boolean };
    unreadableImages: number;
  };
  threshold: {
    value: number;
    chosenOn: 'validation';
    targetSensitivity: number;
    fallback: boolean;
    /** In words, for a reader who is not a statistician. */
    howChosen: string;
    /** The threshold fitted on the test set itself, as the paper did (for comparison only), or null. */
    optimistic: number | null;
  };
  test: {
    n: number;
    covid: number;
    patients: number | null;
    auc: { value: number; ci95: [number, number] | null; method: string; patientBootstrap95: [number, number] | null } | null;
    operatingPoint: ApiOperatingPoint;
    calibration: { brier: number; ece: number };
    /** The test set's share of COVID images: P(COVID) is calibrated to this class mix, not to a clinic's prevalence. */
    prevalence: number;
    /** That, in words. */
    calibrationNote: string;
    /** PPV and NPV at the operating threshold at 1%, 5%, 10% and the test set's prevalence (others: compute from operatingPoint.confusion by `method`). */
    predictiveValues: { method: string; table: ApiPredictiveValues[] } | null;
    /** Test images per source, or null when the predictions carry no source. */
    bySource: { source: string; n: number; covid: number; nonCovid: number }[] | null;
  } | null;
  hazards: CardHazard[];
  /** Parsed shortcut-check.json of the run folder, or null when none was run. */
  shortcutCheck: unknown;
  /** One sentence: what the model is and is not for. */
  intendedUse: string;
  intendedFor: string;
  outOfScope: string;
  limitations: string[];
  privacy: string;
  /** The command that re-trains this run. */
  reproduce: string;
  /**
   * Set when the model is an ensemble of runs: its members, how their outputs are combined, and
   * the validation AUC of each way of combining (the better one was chosen). The rest of the card
   * then describes the ensemble (threshold, test results, hazards) and, for training and input,
   * its first member (members share the data and its splits).
   */
  ensemble?: {
    combine: 'probability' | 'logit';
    validationAuc: Record<'probability' | 'logit', number>;
    members: { runId: string; backbone: string; weights: 'imagenet' | 'synthetic' | 'unknown'; sha256: string }[];
  };
}
