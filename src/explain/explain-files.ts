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
import { cropGeometry, displayScale, heatmapToOriginal, argmax, type DisplayScale, type Heatmap } from './heatmap.js';
import type { ExplainModel } from './model.js';
import { occlusionMap, patchStarts, type Rect } from './occlusion.js';
import { blendOverGrey, colourise, encodePng, renderPanel, type PanelRow } from './render.js';

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
  /** Overlay opacity (default 0.45). */
  alpha?: number;
  scale?: DisplayScale;
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
      const scaled = displayScale(map, opts.scale);
      const heat = colourise(scaled, cw, ch, VIRIDIS);
      const overlay = blendOverGrey(grey, heat, opts.alpha);
      const label = probability >= threshold ? 'covid' : 'non';
      const peakValue = argmax(map).value;
      // the map is scaled to its own maximum, so the caption states that maximum
      const caption = `${basename(file)}: P(COVID) = ${probability.toFixed(3)} (${label} at ${threshold.toFixed(3)}); map max ${peakValue.toPrecision(2)}`;
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
      await writeFileAtomic(paths.panel, (await renderPanel([row], cw, ch, { captions: opts.captions, title: opts.method })).png);
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
    const rendered = await renderPanel(rows, cw, ch, { captions: opts.captions, title: opts.method });
    captions = rendered.captions;
    panel = join(out, `panel.${opts.method}.png`);
    await writeFileAtomic(panel, rendered.png);
  }
  const summary: ExplainSummary = {
    run: run.dir,
    method: opts.method,
    settings: opts.method === 'occlusion'
      ? { patch: opts.patch ?? 32, stride: opts.stride ?? 16, fill: opts.fill ?? 'mean', batchSize: opts.batchSize ?? 32, roi: opts.roi ?? null, scale: opts.scale ?? 'positive' }
      : { upsampling: 'bilinear', scale: opts.scale ?? 'positive' },
    meaning: MEANING[opts.method],
    colourMap: 'viridis (dark violet = low / none, yellow = high); negative values shown as low under the "positive" scale',
    panel,
    captions,
    files: results,
  };
  await writeFileAtomic(join(out, `explain.${opts.method}.json`), JSON.stringify(summary, null, 1) + '\n');
  return summary;
}

/** Blends a display-scaled map (NaN = not seen by the model) over the full-size grey image. */
function overlayOnOriginal(grey: Uint8Array, map: Heatmap, alpha: number) {
  const heat = colourise(map.data, map.width, map.height, VIRIDIS);
  const blended = blendOverGrey(grey, heat, alpha);
  for (let i = 0; i < grey.length; i++) {
    if (Number.isNaN(map.data[i])) blended.data[3 * i] = blended.data[3 * i + 1] = blended.data[3 * i + 2] = grey[i];
  }
  return blended;
}
