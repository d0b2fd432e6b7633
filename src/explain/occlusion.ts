/**
 * Occlusion sensitivity (Zeiler & Fergus 2014; as MONAI's OcclusionSensitivity), on deep-covid's
 * preprocessed tensor: a patch slides over the crop, every occluded copy goes through the run's
 * backbone and head in batches, and each pixel gets the mean drop in P(COVID) over the patches
 * that cover it.
 */
import { UsageError } from '../errors.js';
import type { Heatmap } from './heatmap.js';
import type { ScoringModel } from './model.js';

/** A rectangle in crop pixel coordinates. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Settings of an occlusion map. */
export interface OcclusionOptions {
  /** Side of the square patch in crop pixels (default 32). */
  patch?: number;
  /** Step between patch positions (default 16). */
  stride?: number;
  /**
   * What the patch is filled with: 'mean' (default) = the image's own mean value per channel, or a
   * grey level 0..255 put through the same normalisation as the image.
   */
  fill?: 'mean' | number;
  /** Occluded copies per backbone call (default 32). */
  batchSize?: number;
  /** Only patches that overlap this region are evaluated (pixels no patch covers stay 0). */
  roi?: Rect;
  /** Called after each batch with (patches done, patches total). */
  onProgress?: (done: number, total: number) => void;
  /** Stops the work between batches. */
  signal?: AbortSignal;
}

/** An occlusion map and how it was made. */
export interface OcclusionResult {
  /** Crop-sized map: P(COVID)(original) − P(COVID)(occluded), averaged over the covering patches. */
  map: Heatmap;
  /** One value per patch position (rows = y positions), the same difference unaveraged. */
  grid: Heatmap;
  positionsX: number[];
  positionsY: number[];
  /** P(COVID) of the unoccluded image. */
  probability: number;
  /** Backbone evaluations made (patches + 1). */
  evaluations: number;
}

/** Patch start positions along a side: every `stride`, plus one flush with the end so every pixel is covered. */
export function patchStarts(size: number, patch: number, stride: number, lo = 0, hi = size): number[] {
  const p = Math.min(patch, size);
  const out: number[] = [];
  for (let s = 0; s + p <= size; s += stride) out.push(s);
  if (out[out.length - 1] + p < size) out.push(size - p);
  // keep the positions whose patch overlaps [lo, hi)
  return out.filter((s) => s < hi && s + p > lo);
}

/**
 * Computes the occlusion sensitivity map of one preprocessed image (3 x H x W, the backbone's
 * crop). The backbone runs `positions + 1` images; use `roi` to limit the work.
 */
export async function occlusionMap(model: ScoringModel, tensor: Float32Array, opts: OcclusionOptions = {}): Promise<OcclusionResult> {
  const [h, w] = model.preprocess.crop;
  const plane = h * w;
  if (tensor.length !== 3 * plane) throw new UsageError(`occlusion: the image tensor holds ${tensor.length} values, the backbone needs 3 x ${h} x ${w}`);
  const patch = opts.patch ?? 32;
  const stride = opts.stride ?? 16;
  const batchSize = opts.batchSize ?? 32;
  if (!Number.isInteger(patch) || patch < 1) throw new UsageError(`occlusion patch must be a positive whole number of pixels, got ${patch}`);
  if (!Number.isInteger(stride) || stride < 1) throw new UsageError(`occlusion stride must be a positive whole number of pixels, got ${stride}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`occlusion batchSize must be a positive whole number, got ${batchSize}`);
  const roi = opts.roi ?? { x: 0, y: 0, width: w, height: h };
  const xs = patchStarts(w, patch, stride, roi.x, roi.x + roi.width);
  const ys = patchStarts(h, patch, stride, roi.y, roi.y + roi.height);
  if (xs.length === 0 || ys.length === 0) throw new UsageError(`occlusion: the region of interest ${JSON.stringify(roi)} lies outside the ${w} x ${h} crop`);
  const pw = Math.min(patch, w);
  const ph = Math.min(patch, h);
  const fill = fillValues(model, tensor, plane, opts.fill ?? 'mean');

  const total = xs.length * ys.length;
  // job -1 is the original image; it rides in the first batch
  const jobs = total + 1;
  const buffer = new Float32Array(Math.min(batchSize, jobs) * 3 * plane);
  const scores = new Float64Array(jobs);
  for (let start = 0; start < jobs; start += batchSize) {
    opts.signal?.throwIfAborted();
    const m = Math.min(batchSize, jobs - start);
    for (let k = 0; k < m; k++) {
      const off = k * 3 * plane;
      buffer.set(tensor, off);
      const j = start + k - 1;
      if (j < 0) continue;
      const x0 = xs[j % xs.length];
      const y0 = ys[Math.floor(j / xs.length)];
      for (let c = 0; c < 3; c++) {
        const v = fill[c];
        for (let y = y0; y < y0 + ph; y++) buffer.fill(v, off + c * plane + y * w + x0, off + c * plane + y * w + x0 + pw);
      }
    }
    scores.set(await model.score(buffer, m), start);
    opts.onProgress?.(Math.min(total, start + m - 1), total);
  }

  const p0 = scores[0];
  const sum = new Float64Array(plane);
  const count = new Uint32Array(plane);
  const grid = new Float32Array(total);
  for (let j = 0; j < total; j++) {
    const d = p0 - scores[j + 1];
    grid[j] = d;
    const x0 = xs[j % xs.length];
    const y0 = ys[Math.floor(j / xs.length)];
    for (let y = y0; y < y0 + ph; y++) {
      for (let x = x0; x < x0 + pw; x++) {
        sum[y * w + x] += d;
        count[y * w + x]++;
      }
    }
  }
  const data = new Float32Array(plane);
  for (let i = 0; i < plane; i++) data[i] = count[i] > 0 ? sum[i] / count[i] : 0;
  return {
    map: { width: w, height: h, data },
    grid: { width: xs.length, height: ys.length, data: grid },
    positionsX: xs,
    positionsY: ys,
    probability: p0,
    evaluations: jobs,
  };
}

/** Per-channel fill value in the normalised tensor space. */
function fillValues(model: ScoringModel, tensor: Float32Array, plane: number, fill: 'mean' | number): [number, number, number] {
  if (fill === 'mean') {
    const out: [number, number, number] = [0, 0, 0];
    for (let c = 0; c < 3; c++) {
      let s = 0;
      for (let i = c * plane; i < (c + 1) * plane; i++) s += tensor[i];
      out[c] = s / plane;
    }
    return out;
  }
  if (!Number.isFinite(fill) || fill < 0 || fill > 255) throw new UsageError(`occlusion fill must be "mean" or a grey level 0..255, got ${fill}`);
  const { mean, std } = model.preprocess;
  return [0, 1, 2].map((c) => (fill / 255 - mean[c]) / std[c]) as [number, number, number];
}
