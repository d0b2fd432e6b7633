/**
 * A grid of test images with their P(COVID) (paper Fig. 2): one row per true class, images
 * chosen at evenly spaced ranks of the probability so the row shows the model's whole range.
 * Thumbnails are composed with sharp; captions are SVG text rendered by librsvg.
 */
import { isAbsolute, join } from 'node:path';
import sharp from 'sharp';
import { loadGreyImage } from '../input/load-image.js';
import type { PredictionRow } from './run-data.js';
import { CHART_FONT } from './render.js';

/** Layout of the grid, in pixels. */
export interface SampleGridOptions {
  perClass: number;
  thumb: number;
  caption: number;
  labelWidth: number;
  gap: number;
}

const DEFAULTS: SampleGridOptions = { perClass: 6, thumb: 150, caption: 38, labelWidth: 110, gap: 8 };

/** A composed grid and the images it shows, in row-major order. */
export interface SampleGrid {
  png: Buffer;
  width: number;
  height: number;
  shown: PredictionRow[];
  /** Files that could not be read (drawn as grey placeholders). */
  unreadable: string[];
}

/** XML-escapes text for an SVG text node or attribute. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * Picks `k` rows of one class at evenly spaced ranks of P(COVID) (ties broken by file name), from
 * the lowest to the highest probability.
 */
export function pickSamples(rows: readonly PredictionRow[], label: 0 | 1, k: number): PredictionRow[] {
  const cls = rows.filter((r) => r.label === label).sort((a, b) => a.probability - b.probability || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  if (cls.length <= k) return cls;
  const out: PredictionRow[] = [];
  for (let j = 0; j < k; j++) out.push(cls[Math.round((j * (cls.length - 1)) / (k - 1))]);
  return out;
}

async function thumbnail(path: string, size: number): Promise<Buffer | null> {
  try {
    const img = await loadGreyImage(path);
    return await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 1 } })
      .resize(size, size, { fit: 'contain', background: { r: 0, g: 0, b: 0 }, kernel: 'lanczos3' })
      .toColourspace('srgb')
      .png()
      .toBuffer();
  } catch {
    return null;
  }
}

/**
 * Composes the grid for a run's test predictions, reading images from `dataRoot`; null when no
 * image could be read (e.g. the data folder moved), so the report can say so instead.
 */
export async function sampleGrid(rows: readonly PredictionRow[], threshold: number, dataRoot: string, opts: Partial<SampleGridOptions> = {}): Promise<SampleGrid | null> {
  const o = { ...DEFAULTS, ...opts };
  const classRows = ([1, 0] as const).map((label) => pickSamples(rows, label, o.perClass)).filter((r) => r.length > 0);
  if (classRows.length === 0) return null;
  const cols = Math.max(...classRows.map((r) => r.length));
  const cellW = o.thumb + o.gap;
  const cellH = o.thumb + o.caption + o.gap;
  const width = o.labelWidth + cols * cellW + o.gap;
  const height = classRows.length * cellH + o.gap;
  const composites: sharp.OverlayOptions[] = [];
  const text: string[] = [];
  const unreadable: string[] = [];
  const shown: PredictionRow[] = [];
  let readable = 0;
  for (let r = 0; r < classRows.length; r++) {
    const y0 = o.gap + r * cellH;
    const clsName = classRows[r][0].label === 1 ? 'COVID' : 'non-COVID';
    text.push(`<text x="${o.gap}" y="${y0 + o.thumb / 2}" font-size="15" font-weight="bold" dominant-baseline="middle">${clsName}</text>`);
    for (let c = 0; c < classRows[r].length; c++) {
      const row = classRows[r][c];
      shown.push(row);
      const x0 = o.labelWidth + c * cellW;
      const file = isAbsolute(row.file) ? row.file : join(dataRoot, row.file);
      const png = await thumbnail(file, o.thumb);
      if (png) {
        readable++;
        composites.push({ input: png, left: x0, top: y0 });
      } else {
        unreadable.push(row.file);
        text.push(`<rect x="${x0}" y="${y0}" width="${o.thumb}" height="${o.thumb}" fill="#ddd"/><text x="${x0 + o.thumb / 2}" y="${y0 + o.thumb / 2}" font-size="12" text-anchor="middle">unreadable</text>`);
      }
      const calledCovid = row.probability >= threshold;
      const correct = calledCovid === (row.label === 1);
      const tone = correct ? '#1e8449' : '#c0392b';
      text.push(
        `<rect x="${x0 - 1.5}" y="${y0 - 1.5}" width="${o.thumb + 3}" height="${o.thumb + 3}" fill="none" stroke="${tone}" stroke-width="3"/>`,
        `<text x="${x0 + o.thumb / 2}" y="${y0 + o.thumb + 15}" font-size="13" text-anchor="middle">P(COVID) ${row.probability.toFixed(3)}</text>`,
        `<text x="${x0 + o.thumb / 2}" y="${y0 + o.thumb + 31}" font-size="12" text-anchor="middle" fill="${tone}">called ${calledCovid ? 'COVID' : 'non-COVID'}${correct ? '' : ' (wrong)'}</text>`,
      );
    }
  }
  if (readable === 0) return null;
  const overlay = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="${xmlEscape(CHART_FONT)}">${text.join('')}</svg>`;
  composites.push({ input: Buffer.from(overlay), left: 0, top: 0 });
  const png = await sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(composites)
    .png({ compressionLevel: 9 })
    .toBuffer();
  return { png, width, height, shown, unreadable };
}
