// The Markdown subset → HTML conversion and SVG id handling behind report.html.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inlineHtml, markdownToHtml } from '../src/report/markdown-html.js';
import { canonicalSvgIds, svgForInline } from '../src/report/render.js';
import { chartFigure } from '../src/report/document.js';

test('markdown: headings, lists, aligned tables, code, escaping', () => {
  const md = ['# Title <x>', '', '- a **b** `c<d`', '- e', '', '| k | v |', '|---|---:|', '| x | 0.926 (0.898–0.954) |', '', '```json', '{"a": "<b>"}', '```', '', 'text & more'].join('\n');
  const html = markdownToHtml(md, () => null);
  assert.match(html, /<h1 id="title-x">Title &lt;x&gt;<\/h1>/);
  assert.match(html, /<li>a <strong>b<\/strong> <code>c&lt;d<\/code><\/li>\n<li>e<\/li>/);
  assert.match(html, /<th class="right">v<\/th>/);
  assert.match(html, /<td class="right nw">0\.926 \(0\.898–0\.954\)<\/td>/);
  assert.match(html, /<pre><code>\{&quot;a&quot;: &quot;&lt;b&gt;&quot;\}<\/code><\/pre>/);
  assert.match(html, /<p>text &amp; more<\/p>/);
  assert.equal(inlineHtml('2*3 and *em*'), '2*3 and <em>em</em>');
});

test('markdown: an image paragraph becomes a figure with the caller\'s content and a caption', () => {
  const html = markdownToHtml('![ROC](figures/roc.svg)\n**Figure 1.** ROC curve.\n', (path, alt) => (path === 'figures/roc.svg' ? `<svg aria-label="${alt}"></svg>` : null));
  assert.equal(html, '<figure>\n<svg aria-label="ROC"></svg>\n<figcaption><strong>Figure 1.</strong> ROC curve.</figcaption>\n</figure>');
  assert.match(markdownToHtml('![lost](x.png)', () => null), /<p>lost<\/p>/);
});

test('svg ids are renumbered in order of appearance, references follow', () => {
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="5"><clipPath id="clip17"><rect/></clipPath><g clip-path="url(#clip17)"/><clipPath id="clip3"/><use href="#clip3"/></svg>';
  const out = canonicalSvgIds(svg, 'roc-');
  assert.equal(out, '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="5"><clipPath id="roc-1"><rect/></clipPath><g clip-path="url(#roc-1)"/><clipPath id="roc-2"/><use href="#roc-2"/></svg>');
  const inline = svgForInline(out);
  assert.doesNotMatch(inline, /xmlns|http/);
  assert.match(inline, /^<svg style="max-width:\d+px">/);
});

test('markdown links: only to files beside the report (no scheme, no host)', () => {
  assert.equal(inlineHtml('see [the run](../r18/report/report.html).'), 'see <a href="../r18/report/report.html">the run</a>.');
  for (const bad of ['https://example.org/x', '//example.org/x', 'javascript:alert(1)', 'data:text/html,x', 'mailto:a@b']) {
    assert.doesNotMatch(inlineHtml(`[x](${bad})`), /<a /, bad);
  }
  // text and path are escaped like everything else
  assert.equal(inlineHtml('[a<b](x"y.html)'), '<a href="x&quot;y.html">a&lt;b</a>');
});

test('a chart the compiler had to adjust: its warning reaches the caller\'s warn, not stderr', async () => {
  const warnings: string[] = [];
  // a shape channel on bars is dropped by Vega-Lite with a warning
  const spec = { data: { values: [{ a: 1, b: 'x' }] }, mark: 'bar', encoding: { x: { field: 'a', type: 'quantitative' }, shape: { field: 'b', type: 'nominal' } } } as const;
  const fig = await chartFigure('t', 'test', spec as unknown as Parameters<typeof chartFigure>[2], (m) => warnings.push(m));
  assert.ok(fig.svg?.includes('<svg'));
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0], /^vega-lite: .*shape/i);
});
