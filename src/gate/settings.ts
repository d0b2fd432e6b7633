/**
 * The gate's rules as one table of settings with their reasons, so a caller can change a limit
 * (a site that stores chest films as modality "RG", say) without touching the rules' code.
 */
export interface GateSettings {
  /** DICOM Modality values accepted as projection radiographs. */
  modalities: readonly string[];
  /**
   * Shorter side below which an image is refused as `too-small`. 64 px: the model's input is
   * 224 px, so a smaller image is enlarged over 3.5 times and holds fewer than 64 pixels across
   * both lungs (about 5 mm per pixel on a 35 cm film: ribs and vessels are a pixel or two wide);
   * nothing diagnostic survives. It is also the size of the smallest real DICOM images
   * (64 x 64 MR), so header-refused files are not refused twice over.
   */
  minShortSide: number;
  /** Shorter side below which the image is enlarged to reach the model's input: a warning (224 = the crop). */
  warnShortSide: number;
  /**
   * Longer/shorter side above which an image is refused. Chest films are 35 x 43 cm (1.23), 43 x 43
   * or 24 x 30; the dev set's crops reach 2.23. Beyond 3 the centre crop the model sees keeps
   * under a third of the image.
   */
  maxAspect: number;
  /** Longer/shorter side above which a warning says the model sees only the centre (dev set: 2 of 921 images above 1.8). */
  warnAspect: number;
  /** Grey-level standard deviation (0–255) below which the image is refused as blank (dev set minimum 15.1). */
  minGreyStd: number;
  /** Standard deviation below which the image is warned about as low-contrast. */
  warnGreyStd: number;
  /**
   * Fraction of strongly coloured pixels (chroma > 25/255) above which the file is a colour picture
   * and refused: the five not-cxr photographs have 0.46–0.89, grey X-rays stored as RGB 0, an
   * X-ray with coloured arrows or labels a few percent.
   */
  refuseColourFraction: number;
  /** Fraction above which coloured parts (annotations) are warned about. */
  warnColourFraction: number;
  /** Mean chroma (0–255) above which a colour cast (a photographed film) is warned about. */
  warnMeanChroma: number;
}

/** The defaults; each value's reason is on its field. */
export const GATE_DEFAULTS: Readonly<GateSettings> = Object.freeze({
  modalities: Object.freeze(['CR', 'DX']),
  minShortSide: 64,
  warnShortSide: 224,
  maxAspect: 3,
  warnAspect: 1.8,
  minGreyStd: 3,
  warnGreyStd: 10,
  refuseColourFraction: 0.25,
  warnColourFraction: 0.01,
  warnMeanChroma: 6,
});

/** Defaults overlaid with the caller's settings. */
export function gateSettings(overrides: Partial<GateSettings> = {}): GateSettings {
  return { ...GATE_DEFAULTS, ...overrides };
}
