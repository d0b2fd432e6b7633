/**
 * Pictures of explanations: the heatmap in a colour map, the heatmap blended over the grey crop
 * (tinted in proportion to the map's strength, so regions with nothing to show keep the film's own
 * grey), a colour bar, and a Fig. 14-style panel (original | heatmap | overlay, one row per image,
 * colour bar below) as PNG via sharp.
 */
import { execFile } from 'node:child_process';
import sharp from 'sharp';
import { applyColormap, VIRIDIS } from './colormap.js';
import { displayRange, displayScale, type DisplayScale, type Heatmap } from './heatmap.js';

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
 * out = (1 − a) · grey + a · colour per channel, with a = alpha, or a = alpha · strength[i] when a
 * per-pixel strength in [0, 1] is given (the display-scaled map: where it is 0 the grey is
 * untouched, so the film is not tinted where the map shows nothing).
 */
export function blendOverGrey(grey: Uint8Array, heat: RgbImage, alpha = 0.45, strength?: Float32Array): RgbImage {
  const n = heat.width * heat.height;
  if (grey.length !== n) throw new Error(`internal: grey image has ${grey.length} pixels, heatmap ${n}`);
  if (strength && strength.length !== n) throw new Error(`internal: ${strength.length} strengths for ${n} pixels`);
  const out = new Uint8Array(3 * n);
  const base = Math.min(1, Math.max(0, alpha));
  for (let i = 0; i < n; i++) {
    const s = strength ? strength[i] : 1;
    // NaN (a pixel the model never saw) counts as nothing to show
    const a = s > 0 ? base * (s < 1 ? s : 1) : 0;
    const g = (1 - a) * grey[i];
    out[3 * i] = Math.round(g + a * heat.data[3 * i]);
    out[3 * i + 1] = Math.round(g + a * heat.data[3 * i + 1]);
    out[3 * i + 2] = Math.round(g + a * heat.data[3 * i + 2]);
  }
  return { width: heat.width, height: heat.height, data: out };
}

/** How to show a heatmap: the display scale, its full-colour value for 'fixed', and the overlay opacity. */
export interface HeatDisplay {
  scale?: DisplayScale;
  /** Value shown at full colour under the 'fixed' scale (see FIXED_SCALE_MAX). */
  fixedMax?: number;
  /** Largest overlay opacity (default 0.45), reached where the scaled map is 1. */
  alpha?: number;
}

/** A heatmap made into pictures: its display-scaled values, the range they span, the coloured map and the overlay. */
export interface HeatPictures {
  scaled: Float32Array;
  /** Map values shown at colour 0 and colour 1. */
  range: { lo: number; hi: number };
  heat: RgbImage;
  overlay: RgbImage;
}

/** Colours a crop-sized map and blends it over the grey crop it explains, under one display setting. */
export function heatPictures(map: Heatmap, grey: Uint8Array, display: HeatDisplay = {}): HeatPictures {
  const scale = display.scale ?? 'positive';
  const scaled = displayScale(map, scale, display.fixedMax);
  const heat = colourise(scaled, map.width, map.height, VIRIDIS);
  return { scaled, range: displayRange(map, scale, display.fixedMax), heat, overlay: blendOverGrey(grey, heat, display.alpha ?? 0.45, scaled) };
}

/** A horizontal colour bar: the colour table from low (left) to high (right). */
export function colourBar(width: number, height: number, table: Uint8Array = VIRIDIS): RgbImage {
  const row = applyColormap(Float32Array.from({ length: width }, (_, x) => (width > 1 ? x / (width - 1) : 0)), table);
  const data = new Uint8Array(3 * width * height);
  for (let y = 0; y < height; y++) data.set(row, 3 * y * width);
  return { width, height, data };
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
export const PANEL_LAYOUT = Object.freeze({ gap: 8, margin: 8, caption: 22, header: 22, bar: 12, barLabels: 18 });

/** The colour bar under a panel: what colour 0 and colour 1 stand for. */
export interface PanelColourBar {
  /** Text at the left end (e.g. "0"), the right end (e.g. "0.2 drop in P(COVID)") and after it (e.g. "fixed scale"). */
  low: string;
  high: string;
  note?: string;
}

/** Size of the panel picture for `rows` rows of w x h tiles (plus the colour bar band when `bar`). */
export function panelSize(rows: number, w: number, h: number, captions: boolean, bar = false): { width: number; height: number } {
  const { gap, margin, caption, header } = PANEL_LAYOUT;
  const band = captions ? caption : 0;
  return {
    width: 2 * margin + 3 * w + 2 * gap,
    height: 2 * margin + (captions ? header : 0) + rows * (band + h) + Math.max(0, rows - 1) * gap + (bar ? barBand(captions) : 0),
  };
}

function barBand(captions: boolean): number {
  return PANEL_LAYOUT.gap + PANEL_LAYOUT.bar + (captions ? PANEL_LAYOUT.barLabels : 0);
}

/**
 * A Fig. 14-style panel: per image a row "original | heatmap | overlay" on white, with column
 * titles and a caption per row when fonts are available (and `captions` is not false), and, when
 * `colourBar` is given, a colour bar under the heatmap column saying what its ends stand for.
 */
export async function renderPanel(rows: PanelRow[], width: number, height: number, opts: { captions?: boolean; title?: string; colourBar?: PanelColourBar } = {}): Promise<{ png: Buffer; captions: boolean }> {
  const captions = opts.captions !== false && (await fontsAvailable());
  const { gap, margin, caption, header } = PANEL_LAYOUT;
  const size = panelSize(rows.length, width, height, captions, !!opts.colourBar);
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
  if (opts.colourBar) {
    const x0 = margin + width + gap;
    put(colourBar(width, PANEL_LAYOUT.bar), x0, y);
    if (captions) {
      const ty = y + PANEL_LAYOUT.bar + 14;
      const b = opts.colourBar;
      texts.push(`<text x="${x0}" y="${ty}" font-size="11">${xmlEscape(b.low)}</text>`);
      texts.push(`<text x="${x0 + width}" y="${ty}" font-size="11" text-anchor="end">${xmlEscape(b.high)}</text>`);
      if (b.note) texts.push(`<text x="${x0 + width + gap}" y="${y + PANEL_LAYOUT.bar}" font-size="11">${xmlEscape(b.note)}</text>`);
    }
  }
  let pipeline = sharp(canvas, { raw: { width: size.width, height: size.height, channels: 3 } });
  if (texts.length) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size.width}" height="${size.height}"><g font-family="DejaVu Sans, Lato, sans-serif" font-size="13" fill="#000">${texts.join('')}</g></svg>`;
    pipeline = sharp(await pipeline.png().toBuffer()).composite([{ input: Buffer.from(svg), top: 0, left: 0 }]);
  }
  return { png: await pipeline.png().toBuffer(), captions };
}
