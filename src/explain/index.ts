/** Explanations of a trained run: occlusion sensitivity, class activation maps, overlays and the shortcut check. */
export { camFromFeatureMap, camMaps, type CamResult } from './cam.js';
export { applyColormap, VIRIDIS } from './colormap.js';
export { explainFiles, type ExplainedFile, type ExplainFilesOptions, type ExplainMethod, type ExplainSummary } from './explain-files.js';
export {
  argmax, cropBox, cropGeometry, displayRange, displayScale, FIXED_SCALE, FIXED_SCALE_TEXT, fixedScaleMax, HEATMAP_UNIT, heatmapToOriginal, resizeBilinear,
  type CropGeometry, type DisplayScale, type Heatmap, type HeatmapMethod,
} from './heatmap.js';
export { inRegion, LUNG_REGION, maskImage, regionMask, type Ellipse, type LungRegion, type MaskMode } from './lung-region.js';
export { scoreTensors, type ExplainModel } from './model.js';
export { occlusionMap, patchStarts, type OcclusionOptions, type OcclusionResult, type Rect } from './occlusion.js';
export {
  blendOverGrey, colourBar, colourise, encodePng, fontsAvailable, greyToRgb, heatPictures, PANEL_LAYOUT, panelSize, renderPanel,
  type HeatDisplay, type HeatPictures, type PanelColourBar, type PanelRow, type RgbImage,
} from './render.js';
export {
  formatShortcutReport, LungMaskAugmenter, massOutside, SHORTCUT_RULE, shortcutCheck, shortcutFlag,
  type AucEntry, type ShortcutFlag, type ShortcutOptions, type ShortcutReport,
} from './shortcut.js';
