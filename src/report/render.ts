/**
 * Headless chart rendering: a Vega-Lite spec is compiled to Vega, rendered to SVG by Vega's
 * string renderer (no browser, no canvas), and rasterised to PNG by sharp (librsvg).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import sharp from 'sharp';

/** PNGs are rendered at this multiple of the SVG's pixel size (144 dpi for a 72 dpi SVG). */
export const PNG_SCALE = 2;

/** Charts are shown this much larger than their SVG pixel size in the HTML page (legible text). */
export const HTML_SCALE = 1.45;

/** Fonts named in every chart; librsvg and browsers pick the first one installed. */
export const CHART_FONT = 'DejaVu Sans, Verdana, Arial, sans-serif';

/** Shared look of every chart (fonts, sizes), merged into each spec. */
export const CHART_CONFIG = {
  font: CHART_FONT,
  title: { fontSize: 14, anchor: 'start', offset: 10 },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 400 },
  view: { stroke: '#ccc' },
} as const;

/**
 * Renumbers every id of an SVG (Vega numbers clip paths with a process-wide counter) in order of
 * appearance with `prefix`, so the same chart always gives the same text and several charts can
 * be inlined into one HTML page without id clashes.
 */
export function canonicalSvgIds(svg: string, prefix: string): string {
  const map = new Map<string, string>();
  for (const m of svg.matchAll(/\bid="([^"]+)"/g)) {
    if (!map.has(m[1])) map.set(m[1], `${prefix}${map.size + 1}`);
  }
  if (map.size === 0) return svg;
  return svg
    .replace(/\bid="([^"]+)"/g, (_, id: string) => `id="${map.get(id)}"`)
    .replace(/url\(#([^)]+)\)/g, (all, id: string) => (map.has(id) ? `url(#${map.get(id)})` : all))
    .replace(/href="#([^"]+)"/g, (all, id: string) => (map.has(id) ? `href="#${map.get(id)}"` : all));
}

type Logger = NonNullable<NonNullable<Parameters<typeof compile>[1]>['logger']>;

/**
 * Vega-Lite's log, minus the benign note it gives whenever one layer of a chart hides the legend
 * another layer shows; other warnings go to the caller's `warn`.
 */
function chartLogger(warn: (message: string) => void): Logger {
  let level = 1;
  const logger = {
    level(l?: number) {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    error(...args: unknown[]) {
      throw new Error(args.map(String).join(' '));
    },
    warn(...args: unknown[]) {
      const msg = args.map(String).join(' ');
      if (!/Conflicting legend property "disable"/.test(msg)) warn(`vega-lite: ${msg}`);
      return logger;
    },
    info: () => logger,
    debug: () => logger,
  };
  return logger as unknown as Logger;
}

/**
 * Renders a Vega-Lite spec to standalone SVG text; `idPrefix` names its internal ids. The
 * compiler's warnings (a chart spec the compiler had to adjust) go to `warn`; the library never
 * prints them itself.
 */
export async function vegaLiteToSvg(spec: TopLevelSpec, idPrefix: string, warn: (message: string) => void = () => {}): Promise<string> {
  const withConfig = { ...spec, config: { ...CHART_CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec;
  const compiled = compile(withConfig, { logger: chartLogger(warn) }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return canonicalSvgIds(svg, idPrefix);
  } finally {
    view.finalize();
  }
}

/** Rasterises SVG text to PNG at `PNG_SCALE` times its pixel size. */
export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 * PNG_SCALE }).png({ compressionLevel: 9 }).toBuffer();
}

/**
 * SVG text ready to inline in HTML: no XML namespace declarations (HTML parsers supply them,
 * and the page then contains no URL at all) and no fixed size, so it scales to the page width.
 */
export function svgForInline(svg: string): string {
  return svg
    .replace(/\s+xmlns(:\w+)?="[^"]*"/g, '')
    .replace(/^<svg([^>]*?)\swidth="(\d+(?:\.\d+)?)"\s+height="(\d+(?:\.\d+)?)"/, (_, attrs: string, w: string) => `<svg${attrs} style="max-width:${Math.round(Number(w) * HTML_SCALE)}px"`);
}
