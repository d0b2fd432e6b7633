/**
 * Pictures of explanations: the heatmap in a colour map, the heatmap blended over the grey crop,
 * and a Fig. 14-style panel (original | heatmap | overlay, one row per image) as PNG via sharp.
 */
import { execFile } from 'node:child_process';
import sharp from 'sharp';
import { applyColormap, VIRIDIS } from './colormap.js';

/** An RGB picture, 3 bytes per pixel, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Colours a display-scaled heatmap (values in [0, 1]). */
export function colourise(values: Float32Array, width: number, height: number, table: Uint8Array = VIRIDIS): RgbImage {
  if (values.length !== width * height) throw new Error(`internal: ${values.length} heatmap values for ${width} x ${height}`);
  return { width, height, data: applyColormap(values, table) };
}

/**
 * Alpha-blends a coloured heatmap over a grey image of the same size:
 * out = (1 − alpha) · grey + alpha · colour, per channel.
 */
export function blendOverGrey(grey: Uint8Array, heat: RgbImage, alpha = 0.45): RgbImage {
  const n = heat.width * heat.height;
  if (grey.length !== n) throw new Error(`internal: grey image has ${grey.length} pixels, heatmap ${n}`);
  const out = new Uint8Array(3 * n);
  const a = Math.min(1, Math.max(0, alpha));
  for (let i = 0; i < n; i++) {
    const g = (1 - a) * grey[i];
    out[3 * i] = Math.round(g + a * heat.data[3 * i]);
    out[3 * i + 1] = Math.round(g + a * heat.data[3 * i + 1]);
    out[3 * i + 2] = Math.round(g + a * heat.data[3 * i + 2]);
  }
  return { width: heat.width, height: heat.height, data: out };
}

/** Grey pixels as an RGB picture. */
export function greyToRgb(grey: Uint8Array, width: number, height: number): RgbImage {
  const out = new Uint8Array(3 * width * height);
  for (let i = 0; i < grey.length; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = grey[i];
  return { width, height, data: out };
}

/** Encodes an RGB picture as PNG. */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
}

let fontsChecked: Promise<boolean> | null = null;

/** Whether fontconfig knows any font, so that SVG text (librsvg) renders as letters. */
export function fontsAvailable(): Promise<boolean> {
  fontsChecked ??= new Promise((resolve) => {
    execFile('fc-list', [':', 'family'], { timeout: 5000 }, (err, stdout) => resolve(!err && stdout.trim().length > 0));
  });
  return fontsChecked;
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** One row of a panel. */
export interface PanelRow {
  /** The grey crop the model saw. */
  grey: Uint8Array;
  /** The coloured heatmap and the overlay, same size as the crop. */
  heat: RgbImage;
  overlay: RgbImage;
  /** Caption above the row (e.g. file name and P(COVID)); dropped when no font is available. */
  caption?: string;
}

/** Layout of a panel, in pixels. */
export const PANEL_LAYOUT = Object.freeze({ gap: 8, margin: 8, caption: 22, header: 22 });

/** Size of the panel picture for `rows` rows of w x h tiles. */
export function panelSize(rows: number, w: number, h: number, captions: boolean): { width: number; height: number } {
  const { gap, margin, caption, header } = PANEL_LAYOUT;
  const band = captions ? caption : 0;
  return {
    width: 2 * margin + 3 * w + 2 * gap,
    height: 2 * margin + (captions ? header : 0) + rows * (band + h) + Math.max(0, rows - 1) * gap,
  };
}

/**
 * A Fig. 14-style panel: per image a row "original | heatmap | overlay" on white, with column
 * titles and a caption per row when fonts are available (and `captions` is not false).
 */
export async function renderPanel(rows: PanelRow[], width: number, height: number, opts: { captions?: boolean; title?: string } = {}): Promise<{ png: Buffer; captions: boolean }> {
  const captions = opts.captions !== false && (await fontsAvailable());
  const { gap, margin, caption, header } = PANEL_LAYOUT;
  const size = panelSize(rows.length, width, height, captions);
  const canvas = new Uint8Array(3 * size.width * size.height).fill(255);
  const put = (img: RgbImage, x0: number, y0: number) => {
    for (let y = 0; y < img.height; y++) {
      canvas.set(img.data.subarray(3 * y * img.width, 3 * (y + 1) * img.width), 3 * ((y0 + y) * size.width + x0));
    }
  };
  const texts: string[] = [];
  let y = margin;
  if (captions) {
    const titles = ['original', opts.title ?? 'heatmap', 'overlay'];
    titles.forEach((t, k) => texts.push(`<text x="${margin + k * (width + gap) + width / 2}" y="${y + 16}" text-anchor="middle" font-weight="bold">${xmlEscape(t)}</text>`));
    y += header;
  }
  for (const row of rows) {
    if (captions) {
      if (row.caption) texts.push(`<text x="${margin}" y="${y + 16}">${xmlEscape(row.caption)}</text>`);
      y += caption;
    }
    put(greyToRgb(row.grey, width, height), margin, y);
    put(row.heat, margin + width + gap, y);
    put(row.overlay, margin + 2 * (width + gap), y);
    y += height + gap;
  }
  let pipeline = sharp(canvas, { raw: { width: size.width, height: size.height, channels: 3 } });
  if (texts.length) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size.width}" height="${size.height}"><g font-family="DejaVu Sans, Lato, sans-serif" font-size="13" fill="#000">${texts.join('')}</g></svg>`;
    pipeline = sharp(await pipeline.png().toBuffer()).composite([{ input: Buffer.from(svg), top: 0, left: 0 }]);
  }
  return { png: await pipeline.png().toBuffer(), captions };
}
