/**
 * The input gate's one result type. Every entry point (predict, evaluate, explain, the API, the
 * page, batch and PACS paths) shows this object as it is, so what is refused, warned about or
 * passed, and why, is decided in one place (`combineGate`) and worded once.
 */

/** What the gate decided: `refused` images get no P(COVID) at all; `warned` ones get it with the warning first. */
export type GateVerdict = 'passed' | 'warned' | 'refused';

/** How much a reason weighs: `refuse` and `warn` set the verdict, `note` only informs. */
export type GateLevel = 'refuse' | 'warn' | 'note';

/** Stable, machine-readable reason codes (the message is for people). */
export type GateReasonCode =
  // DICOM header facts
  | 'not-radiograph' // Modality is not a projection radiograph (CT, MR, ...)
  | 'not-chest' // Body Part Examined names another body part
  | 'lateral-view' // View Position LL / RL / LATERAL
  | 'oblique-view' // View Position RLO / LLO
  | 'other-view' // any other View Position (decubitus, unknown code)
  | 'header-incomplete' // Modality, Body Part Examined or View Position absent
  // image facts
  | 'too-small' // shorter side below the minimum (the `too-small` input problem)
  | 'low-resolution' // smaller than the model's input: enlarged
  | 'extreme-aspect' // far from any film format: most of the image would be cut away
  | 'unusual-aspect' // wider or taller than chest films
  | 'blank' // nearly uniform grey
  | 'low-contrast'
  | 'colour-picture' // really a colour image (a photograph or drawing)
  | 'colour-tint' // mostly grey with coloured parts or a colour cast
  // learned: is this like the training images?
  | 'far-out-of-distribution'
  | 'out-of-distribution'
  | 'not-frontal' // features a little unlike the training images and far less mirror-symmetric: a lateral film
  | 'no-ood-model' // the run has no density model (trained before the gate existed)
  // the gate itself
  | 'gate-disabled';

/** One reason, in plain words. */
export interface GateReason {
  code: GateReasonCode;
  level: GateLevel;
  message: string;
}

/** What a DICOM header says about the image (null fields: tag absent). */
export interface HeaderFacts {
  modality: string | null;
  bodyPart: string | null;
  viewPosition: string | null;
  sopClassUid: string | null;
  imageType: string | null;
  photometric: string | null;
  /** Gate-relevant tags the file does not have (Modality, BodyPartExamined, ViewPosition). */
  missing: string[];
}

/** What the pixels say, measured before the image is reduced to the model's crop. */
export interface ImageFacts {
  width: number;
  height: number;
  /** Longer side / shorter side (≥ 1). */
  aspect: number;
  /** Standard deviation of the grey levels on the 0–255 display scale. */
  greyStd: number;
  /** Colour channels as stored (1 grey, 3 colour; alpha not counted). */
  storedChannels: number;
  /** Fraction of pixels whose chroma (max − min of R, G, B) exceeds 25 of 255; 0 for grey files. */
  colourFraction: number;
  /** Mean chroma (0–255); 0 for grey files. */
  meanChroma: number;
  /**
   * Left-right mirror symmetry (−1 to 1; symmetry.ts): frontal chest films are nearly mirror
   * images of themselves, lateral films are not. The learned check weighs it (ood.ts).
   */
  symmetry: number;
}

/** The learned out-of-distribution check of one image. */
export interface OodFacts {
  /** Distance of the image's features from the training images' (larger = less alike). */
  score: number;
  /** Above this, the image is flagged (warned) by its score alone (version-3 gates weigh its symmetry too: see `evidence`): set from the run's own training and validation images (see GateCalibration). */
  cutoff: number;
  /** Above this, the image is refused. */
  farCutoff: number;
  flagged: boolean;
  /** The density model (`gate.json` method). */
  method: string;
  /** Version-3 gates: the image's mirror symmetry (ImageFacts.symmetry), weighed with the score. */
  symmetry?: number;
  /** Version-3 gates: the evidence (score and asymmetry, each as a z-value) that `flagged` compares with `evidenceCutoff`. */
  evidence?: number;
  evidenceCutoff?: number;
}

/** A checked layer: its facts and the reasons it gives. */
export interface LayerCheck<F> {
  facts: F;
  reasons: GateReason[];
}

export type HeaderCheck = LayerCheck<HeaderFacts>;
export type ImageCheck = LayerCheck<ImageFacts>;
export type OodCheck = LayerCheck<OodFacts>;

/** The gate's verdict on one input, with the facts behind it. */
export interface GateResult {
  verdict: GateVerdict;
  /** Refusals first, then warnings, then notes; each in plain words. */
  reasons: GateReason[];
  /** DICOM header facts; null for files without a DICOM header. */
  header: HeaderFacts | null;
  image: ImageFacts | null;
  /** Null when the run has no density model or features were not available. */
  ood: OodFacts | null;
  /** Present when the gate was switched off: nothing is refused, and the reasons say what would have been. */
  disabled?: true;
}
