/**
 * A report as written to disk: report.md (figures linked from figures/), report.html (one
 * self-contained page: inline CSS, inline SVG, PNGs as data: URIs, no scripts, no URLs) and the
 * figures/ folder with each chart as SVG and PNG. Every file is written atomically.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { htmlEscape, markdownToHtml } from './markdown-html.js';
import { svgForInline, svgToPng, vegaLiteToSvg } from './render.js';
import type { TopLevelSpec } from 'vega-lite';

/** One figure: a chart (SVG and PNG) or a raster image (PNG only). */
export interface ReportFigure {
  /** File name without extension, unique within the report (e.g. "roc"). */
  name: string;
  alt: string;
  svg: string | null;
  png: Buffer;
}

/** The report's text and figures. */
export interface ReportDocument {
  title: string;
  markdown: string;
  figures: ReportFigure[];
}

/** Where a report's warnings go (the chart compiler's adjustments); the library never prints them itself. */
export type ReportWarn = (message: string) => void;

/** Renders a Vega-Lite chart into a figure (SVG plus PNG); the compiler's warnings go to `warn`. */
export async function chartFigure(name: string, alt: string, spec: TopLevelSpec, warn?: ReportWarn): Promise<ReportFigure> {
  const svg = await vegaLiteToSvg(spec, `${name}-`, warn);
  return { name, alt, svg, png: await svgToPng(svg) };
}

/** Relative path of a figure from the report folder (the SVG when there is one). */
export function figurePath(f: ReportFigure): string {
  return `figures/${f.name}.${f.svg ? 'svg' : 'png'}`;
}

/** Markdown of a figure: the image line, then its caption in the same paragraph. */
export function figureMarkdown(f: ReportFigure, caption: string): string {
  return `![${f.alt.replace(/[[\]]/g, '')}](${figurePath(f)})\n${caption}\n`;
}

/** Collects a report's figures with running numbers, pushing each one's Markdown into `md`. */
export function figureCollector(md: string[]): { figures: ReportFigure[]; add: (f: ReportFigure, caption: string) => void } {
  const figures: ReportFigure[] = [];
  return {
    figures,
    add(f, caption) {
      figures.push(f);
      md.push(figureMarkdown(f, `**Figure ${figures.length}.** ${caption}`));
    },
  };
}

const CSS = `
body { font-family: "DejaVu Sans", Verdana, Arial, sans-serif; color: #222; background: #fff; margin: 0; line-height: 1.45; font-size: 15px; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 32px 64px; }
h1 { font-size: 1.7em; border-bottom: 2px solid #333; padding-bottom: 6px; }
h2 { font-size: 1.35em; margin-top: 2em; border-bottom: 1px solid #bbb; padding-bottom: 4px; }
h3 { font-size: 1.12em; margin-top: 1.6em; }
h4 { font-size: 1em; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; }
th { background: #f1f3f5; text-align: left; }
td.right, th.right { text-align: right; font-variant-numeric: tabular-nums; }
td.center, th.center { text-align: center; }
td.nw { white-space: nowrap; }
.table-wrap { overflow-x: auto; }
figure { margin: 1.2em 0 1.6em; }
figure svg, figure img { display: block; width: 100%; height: auto; }
figcaption { font-size: 0.9em; color: #444; margin-top: 6px; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.88em; }
pre { background: #f6f8fa; border: 1px solid #ddd; padding: 8px 10px; overflow-x: auto; white-space: pre-wrap; }
p strong:first-child { color: #000; }
p, li, figcaption { overflow-wrap: anywhere; }
a { color: #0a4f96; }
@media (max-width: 600px) { main { padding: 12px 12px 48px; } h1 { font-size: 1.4em; } }
@media print { main { max-width: none; padding: 0; } figure { break-inside: avoid; } }
`;

/** The self-contained HTML page of a report. */
export function reportHtml(doc: ReportDocument): string {
  const byPath = new Map(doc.figures.map((f) => [figurePath(f), f]));
  const body = markdownToHtml(doc.markdown, (path, alt) => {
    const f = byPath.get(path);
    if (!f) return null;
    if (f.svg) return `<div role="img" aria-label="${htmlEscape(alt)}">${svgForInline(f.svg)}</div>`;
    return `<img alt="${htmlEscape(alt)}" style="max-width:${Math.round(pngWidth(f.png))}px" src="data:image/png;base64,${f.png.toString('base64')}">`;
  });
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${htmlEscape(doc.title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

/** Width in pixels from a PNG's IHDR chunk. */
export function pngWidth(png: Buffer): number {
  return png.readUInt32BE(16);
}

/** Writes report.md, report.html and figures/ into `outDir`; returns the written paths. */
export async function writeReport(outDir: string, doc: ReportDocument): Promise<string[]> {
  const written: string[] = [];
  const put = async (rel: string, data: string | Buffer) => {
    await writeFileAtomic(join(outDir, rel), data);
    written.push(join(outDir, rel));
  };
  for (const f of doc.figures) {
    if (f.svg) await put(`figures/${f.name}.svg`, f.svg);
    await put(`figures/${f.name}.png`, f.png);
  }
  await put('report.md', doc.markdown);
  await put('report.html', reportHtml(doc));
  return written;
}
