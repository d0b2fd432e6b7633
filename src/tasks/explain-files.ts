/**
 * `deep-covid explain`: heatmaps of a trained run for image files, written as PNG pictures
 * (heatmap, overlay, panel), raw .npy maps, and a JSON summary. A file that cannot be read is
 * reported and the others are still explained.
 */
import { basename, extname, join, resolve } from 'node:path';
import { InputError } from '../errors.js';
import type { LoadLimits } from '../input/load-image.js';
import { loadModel, type ModelLoadOptions } from '../model/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { encodeNpyF32 } from '../util/npy.js';
import { createProgress, type ProgressListener } from '../util/progress.js';
import { VIRIDIS } from '../explain/colormap.js';
import { ClassActivationMap, COLOUR_MAP_TEXT, EXPLAINER_DEFAULTS, MAP_MEANING, OcclusionSensitivity, type ExplainMethod } from '../explain/explainers.js';
import { cropGeometry, fixedScaleMax, HEATMAP_UNIT, heatmapToOriginal, argmax, type DisplayScale, type Heatmap } from '../explain/heatmap.js';
import { patchStarts, type Rect } from '../explain/occlusion.js';
import { blendOverGrey, colourise, encodePng, heatPictures, renderPanel, type PanelColourBar, type PanelRow } from '../explain/render.js';

export type { ExplainMethod };

/** Options of `explainFiles`. */
export interface ExplainFilesOptions extends ModelLoadOptions {
  run: string;
  files: string[];
  method: ExplainMethod;
  out: string;
  patch?: number;
  stride?: number;
  fill?: 'mean' | number;
  batchSize?: number;
  roi?: Rect;
  /** Largest overlay opacity (default 0.45), reached where the display-scaled map is 1. */
  alpha?: number;
  /** Display scaling (default 'positive': each map to its own maximum); 'fixed' shows every map on 0..fixedMax. */
  scale?: DisplayScale;
  /** Full-colour value of the 'fixed' scale, in the map's unit (default fixedScaleMax of the method: for CAM it grows with the feature map's cells). */
  fixedMax?: number;
  /** Also write the overlay on the original image's size and framing. */
  original?: boolean;
  captions?: boolean;
  limits?: Partial<LoadLimits>;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

/** What was written for one file, or why it failed. */
export type ExplainedFile =
  | {
      file: string;
      probability: number;
      label: 'covid' | 'non';
      threshold: number;
      /** Largest map value and where it is, in crop pixels. */
      peak: { x: number; y: number; value: number };
      outputs: { heatmap: string; overlay: string; panel: string; npy: string; overlayOriginal?: string };
    }
  | { file: string; error: string };

/** The JSON summary written beside the pictures. */
export interface ExplainSummary {
  run: string;
  method: ExplainMethod;
  settings: Record<string, unknown>;
  meaning: string;
  /** Unit of the map values (and of the colour scale). */
  unit: string;
  colourMap: string;
  panel: string | null;
  captions: boolean;
  files: ExplainedFile[];
}

function stems(files: string[]): string[] {
  const seen = new Map<string, number>();
  return files.map((f) => {
    const s = basename(f, extname(f)) || 'image';
    const k = (seen.get(s) ?? 0) + 1;
    seen.set(s, k);
    return k === 1 ? s : `${s}-${k}`;
  });
}

/** Explains every file with a trained run and writes the outputs into `out`. */
export async function explainFiles(opts: ExplainFilesOptions): Promise<ExplainSummary> {
  const model = await loadModel(opts.run, opts);
  const cfg = model.preprocess;
  const [ch, cw] = cfg.crop;
  const out = resolve(opts.out);
  const threshold = model.threshold;
  const d = EXPLAINER_DEFAULTS.occlusion;
  const occlusion = new OcclusionSensitivity({ patch: opts.patch ?? d.patch, stride: opts.stride ?? d.stride, fill: opts.fill ?? d.fill, batchSize: opts.batchSize ?? d.batchSize });
  const camExplainer = new ClassActivationMap();
  const names = stems(opts.files);
  const scale = opts.scale ?? 'positive';
  const alpha = opts.alpha ?? EXPLAINER_DEFAULTS.overlayAlpha;
  const unit = HEATMAP_UNIT[opts.method];
  // the CAM's fixed scale depends on its number of feature-map cells, known from the first map
  let fixedMax: number | null = opts.fixedMax ?? (opts.method === 'occlusion' ? fixedScaleMax('occlusion', 1) : null);
  const scaleText = () => scale === 'fixed' ? `a fixed scale, 0 to ${fixedMax} ${unit}, the same for every image` : scale === 'minmax' ? 'each map\'s own minimum to maximum' : `0 to each map's own maximum (${unit})`;
  const scaleSettings = () => scale === 'fixed' ? { scale, fixedMax } : { scale };
  /** The panel's colour bar: fixed ends, or each row's own maximum (given in its caption). */
  const bar = (peak: number | null): PanelColourBar => scale === 'fixed'
    ? { low: '0', high: `${fixedMax} ${unit}`, note: 'fixed scale' }
    : scale === 'minmax'
      ? { low: 'map min', high: 'map max', note: 'own range' }
      : { low: '0', high: peak !== null ? `${peak.toPrecision(2)} ${unit}` : 'each map\'s max', note: 'own maximum' };
  const results: ExplainedFile[] = [];
  const rows: PanelRow[] = [];
  const perFile = opts.method === 'occlusion'
    ? patchStarts(cw, occlusion.settings.patch, occlusion.settings.stride).length * patchStarts(ch, occlusion.settings.patch, occlusion.settings.stride).length
    : 1;
  const progress = createProgress({ label: `explain (${opts.method})`, total: opts.files.length * perFile, unit: opts.method === 'occlusion' ? 'patch' : 'img', onProgress: opts.onProgress });
  try {
    for (let i = 0; i < opts.files.length; i++) {
      const file = opts.files[i];
      let prepared;
      try {
        opts.signal?.throwIfAborted();
        prepared = await model.prepare(file, opts.limits);
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        results.push({ file, error: err.message });
        // an unreadable file is no work done: counting its patches as done would report an absurd rate
        continue;
      }
      const { image: img, crop: grey, tensor: tensorBuf } = prepared;
      let map: Heatmap;
      let probability: number;
      if (opts.method === 'occlusion') {
        let done = 0;
        const res = await occlusion.compute(model, tensorBuf, {
          roi: opts.roi, signal: opts.signal,
          onProgress: (k) => { progress.tick(k - done); done = k; },
        });
        progress.tick(perFile - done);
        map = res.map;
        probability = res.probability;
      } else {
        const res = await camExplainer.compute(model, tensorBuf);
        fixedMax ??= fixedScaleMax('cam', res.lowres.width * res.lowres.height);
        progress.tick();
        map = res.map;
        probability = res.probability;
      }
      const { scaled, heat, overlay } = heatPictures(map, grey, { scale, fixedMax: fixedMax ?? undefined, alpha });
      const label = probability >= threshold ? 'covid' : 'non';
      const peakValue = argmax(map).value;
      // under the per-image scales the colours do not compare across rows, so each caption states its maximum
      const caption = `${basename(file)}: P(COVID) = ${probability.toFixed(3)} (${label} at ${threshold.toFixed(3)}); map max ${peakValue.toPrecision(2)} ${unit}`;
      const stem = names[i];
      const paths = {
        heatmap: join(out, `${stem}.${opts.method}.heatmap.png`),
        overlay: join(out, `${stem}.${opts.method}.overlay.png`),
        panel: join(out, `${stem}.${opts.method}.panel.png`),
        npy: join(out, `${stem}.${opts.method}.npy`),
      } as { heatmap: string; overlay: string; panel: string; npy: string; overlayOriginal?: string };
      const row: PanelRow = { grey, heat, overlay, caption };
      await writeFileAtomic(paths.heatmap, await encodePng(heat));
      await writeFileAtomic(paths.overlay, await encodePng(overlay));
      await writeFileAtomic(paths.panel, (await renderPanel([row], cw, ch, { captions: opts.captions, title: opts.method, colourBar: bar(peakValue) })).png);
      await writeFileAtomic(paths.npy, encodeNpyF32(map.data, [ch, cw]));
      if (opts.original) {
        const geo = cropGeometry(img.width, img.height, cfg);
        const onOriginal = heatmapToOriginal({ width: cw, height: ch, data: scaled }, img.width, img.height, geo);
        paths.overlayOriginal = join(out, `${stem}.${opts.method}.overlay-original.png`);
        await writeFileAtomic(paths.overlayOriginal, await encodePng(overlayOnOriginal(img.data, onOriginal, alpha)));
      }
      rows.push(row);
      const peak = argmax(map);
      results.push({ file, probability, label, threshold, peak: { x: peak.x, y: peak.y, value: peak.value }, outputs: paths });
    }
  } finally {
    progress.done();
    await model.release();
  }
  let panel: string | null = null;
  let captions = false;
  if (rows.length) {
    const rendered = await renderPanel(rows, cw, ch, { captions: opts.captions, title: opts.method, colourBar: bar(null) });
    captions = rendered.captions;
    panel = join(out, `panel.${opts.method}.png`);
    await writeFileAtomic(panel, rendered.png);
  }
  const summary: ExplainSummary = {
    run: model.dir,
    method: opts.method,
    settings: opts.method === 'occlusion'
      ? { ...occlusion.settings, roi: opts.roi ?? null, ...scaleSettings() }
      : { ...camExplainer.settings, ...scaleSettings() },
    meaning: MAP_MEANING[opts.method].formula,
    unit,
    colourMap: `${COLOUR_MAP_TEXT} over ${scaleText()}; negative values are shown as none except under "minmax". Overlays tint the grey crop in proportion to the scaled value (none = untouched grey, full = opacity ${alpha}).`,
    panel,
    captions,
    files: results,
  };
  await writeFileAtomic(join(out, `explain.${opts.method}.json`), JSON.stringify(summary, null, 1) + '\n');
  return summary;
}

/** Blends a display-scaled map (NaN = not seen by the model: left grey) over the full-size grey image. */
function overlayOnOriginal(grey: Uint8Array, map: Heatmap, alpha: number) {
  return blendOverGrey(grey, colourise(map.data, map.width, map.height, VIRIDIS), alpha, map.data);
}
