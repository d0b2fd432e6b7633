/** Explanation methods on a scoring model: occlusion sensitivity, class activation maps, overlays, the lung region and the shortcut rule. */
export { camFromFeatureMap, type CamResult } from './cam.js';
export { applyColormap, VIRIDIS } from './colormap.js';
export {
  ClassActivationMap, COLOUR_MAP_TEXT, EXPLAINER_DEFAULTS, MAP_MEANING, OcclusionSensitivity,
  type ExplainMethod, type OcclusionSettings,
} from './explainers.js';
export {
  argmax, cropBox, cropGeometry, displayRange, displayScale, FIXED_SCALE, FIXED_SCALE_TEXT, fixedScaleMax, HEATMAP_UNIT, heatmapToOriginal, resizeBilinear,
  type CropGeometry, type DisplayScale, type Heatmap, type HeatmapMethod,
} from './heatmap.js';
export { inRegion, LUNG_REGION, maskImage, regionMask, type Ellipse, type LungRegion, type MaskMode } from './lung-region.js';
export type { CamModel, ScoringModel } from './model.js';
export { occlusionMap, patchStarts, type OcclusionOptions, type OcclusionResult, type Rect } from './occlusion.js';
export {
  blendOverGrey, colourBar, colourise, encodePng, fontsAvailable, greyToRgb, heatPictures, PANEL_LAYOUT, panelSize, renderPanel,
  type HeatDisplay, type HeatPictures, type PanelColourBar, type PanelRow, type RgbImage,
} from './render.js';
export {
  aucEntry, formatShortcutReport, LungMaskAugmenter, massOutside, SHORTCUT_RULE, shortcutFlag,
  type AucEntry, type ShortcutFlag, type ShortcutReport,
} from './shortcut.js';
