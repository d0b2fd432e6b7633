/**
 * `deep-covid explain`: heatmaps of a trained run for image files, written as PNG pictures
 * (heatmap, overlay, panel), raw .npy maps, and a JSON summary. A file that cannot be read is
 * reported and the others are still explained.
 */
import { basename, extname, join, resolve } from 'node:path';
import type { BackboneOptions } from '../backbone/backbone.js';
import { InputError } from '../errors.js';
import { loadGreyImage, type LoadLimits } from '../input/load-image.js';
import { greyToTensor, resizeAndCrop } from '../preprocess/to-tensor.js';
import { readRunDir } from '../protocol/run-dir.js';
import { loadRunBackbone } from '../protocol/run-model.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { encodeNpyF32 } from '../util/npy.js';
import { createProgress } from '../util/progress.js';
import { camMaps } from './cam.js';
import { VIRIDIS } from './colormap.js';
import { cropGeometry, fixedScaleMax, HEATMAP_UNIT, heatmapToOriginal, argmax, type DisplayScale, type Heatmap } from './heatmap.js';
import type { ExplainModel } from './model.js';
import { occlusionMap, patchStarts, type Rect } from './occlusion.js';
import { blendOverGrey, colourise, encodePng, heatPictures, renderPanel, type PanelColourBar, type PanelRow } from './render.js';

/** Explanation methods. */
export type ExplainMethod = 'occlusion' | 'cam';

/** Options of `explainFiles`. */
export interface ExplainFilesOptions {
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
  /** Full-colour value of the 'fixed' scale, in the map's unit (default fixedScaleMax of the method). */
  fixedMax?: number;
  /** Also write the overlay on the original image's size and framing. */
  original?: boolean;
  captions?: boolean;
  runtime?: BackboneOptions;
  modelPath?: string;
  limits?: Partial<LoadLimits>;
  quiet?: boolean;
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

const MEANING: Record<ExplainMethod, string> = {
  occlusion: 'P(COVID)(original) − P(COVID)(patch occluded), averaged over the patches covering each pixel; positive = the region supports COVID',
  cam: 'class activation map: per-location contribution to the COVID − non-COVID logit difference (linear heads: Σ_c (w1c − w0c)·map_c; SqueezeNet: ReLU(conv1) − ReLU(conv0)), bilinearly upsampled',
};

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
  const run = await readRunDir(opts.run);
  const { backbone, tensor } = await loadRunBackbone(run, opts.runtime, opts.modelPath);
  const model: ExplainModel = { backbone, head: run.head, tensor };
  const cfg = backbone.manifest.preprocess;
  const [ch, cw] = cfg.crop;
  const out = resolve(opts.out);
  const threshold = run.record.threshold.value;
  const names = stems(opts.files);
  const scale = opts.scale ?? 'positive';
  const unit = HEATMAP_UNIT[opts.method];
  const cells = opts.method === 'cam' && backbone.manifest.features.map ? (await backbone.featureShapes()).map!.slice(1).reduce((a, b) => a * b, 1) : 1;
  const fixedMax = opts.fixedMax ?? fixedScaleMax(opts.method, cells);
  const scaleText = scale === 'fixed' ? `a fixed scale, 0 to ${fixedMax} ${unit}, the same for every image` : scale === 'minmax' ? 'each map\'s own minimum to maximum' : `0 to each map's own maximum (${unit})`;
  const scaleSettings = scale === 'fixed' ? { scale, fixedMax } : { scale };
  /** The panel's colour bar: fixed ends, or each row's own maximum (given in its caption). */
  const bar = (peak: number | null): PanelColourBar => scale === 'fixed'
    ? { low: '0', high: `${fixedMax} ${unit}`, note: 'fixed scale' }
    : scale === 'minmax'
      ? { low: 'map min', high: 'map max', note: 'own range' }
      : { low: '0', high: peak !== null ? `${peak.toPrecision(2)} ${unit}` : 'each map\'s max', note: 'own maximum' };
  const results: ExplainedFile[] = [];
  const rows: PanelRow[] = [];
  const perFile = opts.method === 'occlusion'
    ? patchStarts(cw, opts.patch ?? 32, opts.stride ?? 16).length * patchStarts(ch, opts.patch ?? 32, opts.stride ?? 16).length
    : 1;
  const progress = createProgress({ label: `explain (${opts.method})`, total: opts.files.length * perFile, unit: opts.method === 'occlusion' ? 'patch' : 'img', quiet: opts.quiet });
  const tensorBuf = new Float32Array(backbone.imageLength);
  try {
    for (let i = 0; i < opts.files.length; i++) {
      const file = opts.files[i];
      let img, grey: Uint8Array;
      try {
        img = await loadGreyImage(file, opts.limits);
        grey = await resizeAndCrop(img, cfg);
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        results.push({ file, error: err.message });
        progress.tick(perFile);
        continue;
      }
      greyToTensor(grey, cfg, tensorBuf);
      let map: Heatmap;
      let probability: number;
      if (opts.method === 'occlusion') {
        let done = 0;
        const res = await occlusionMap(model, tensorBuf, {
          patch: opts.patch, stride: opts.stride, fill: opts.fill, batchSize: opts.batchSize, roi: opts.roi,
          onProgress: (d) => { progress.tick(d - done); done = d; },
        });
        progress.tick(perFile - done);
        map = res.map;
        probability = res.probability;
      } else {
        const [res] = await camMaps(model, tensorBuf, 1);
        progress.tick();
        map = res.map;
        probability = res.probability;
      }
      const { scaled, heat, overlay } = heatPictures(map, grey, { scale, fixedMax, alpha: opts.alpha });
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
        await writeFileAtomic(paths.overlayOriginal, await encodePng(overlayOnOriginal(img.data, onOriginal, opts.alpha ?? 0.45)));
      }
      rows.push(row);
      const peak = argmax(map);
      results.push({ file, probability, label, threshold, peak: { x: peak.x, y: peak.y, value: peak.value }, outputs: paths });
    }
  } finally {
    progress.done();
    await backbone.release();
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
    run: run.dir,
    method: opts.method,
    settings: opts.method === 'occlusion'
      ? { patch: opts.patch ?? 32, stride: opts.stride ?? 16, fill: opts.fill ?? 'mean', batchSize: opts.batchSize ?? 32, roi: opts.roi ?? null, ...scaleSettings }
      : { upsampling: 'bilinear', ...scaleSettings },
    meaning: MEANING[opts.method],
    unit,
    colourMap: `viridis (dark violet = low / none, yellow = high) over ${scaleText}; negative values are shown as none except under "minmax". Overlays tint the grey crop in proportion to the scaled value (none = untouched grey, full = opacity ${opts.alpha ?? 0.45}).`,
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
