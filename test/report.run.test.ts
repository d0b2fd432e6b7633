// Run and reproduce reports built from a synthetic run folder (seeded predictions evaluated with
// evaluatePredictions), so no model has to be trained.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { evaluatePredictions, type EvaluationReport } from '../src/evaluate/index.js';
import { createHead, headToJSON } from '../src/head/index.js';
import { PAPER_PROTOCOL } from '../src/protocol/config.js';
import type { RunRecord } from '../src/protocol/run-folder.js';
import { historyCsv, pctCi, predictionsCsv } from '../src/protocol/run-files.js';
import { main } from '../src/cli/main.js';
import { Rng } from '../src/util/rng.js';
import { confusionCells, probabilityHistogram, rocPoints } from '../src/report/chart-data.js';
import { confusionSpec, histogramSpec, rocSpec } from '../src/report/charts.js';
import { PNG_SCALE } from '../src/report/render.js';
import { buildModelCard, findHazards, loadReportRun, modelCardMarkdown, writeReproduceReport, writeRunReport } from '../src/report/index.js';
import { LOGIT_BINS } from '../src/report/chart-data.js';
import { PAPER_TABLE6 } from '../src/report/reproduce-report.js';
import { buildServer, type ApiModelCard, type Predictor } from '../src/server/index.js';
import { readRunDir } from '../src/protocol/run-folder.js';
import { readShortcutCheck } from '../src/report/run-data.js';

let root: string;
let runDir: string;
let metrics: EvaluationReport;
let threshold: number;
let probs: Float64Array;
let labels: Uint8Array;

/**
 * 120 test images: source "mixed-src" holds both classes with uninformative scores, "covid-only"
 * only COVID with high scores, "non-only" only non-COVID with low scores; so the overall AUC is
 * high and the within-source AUC near 0.5, the source-shortcut pattern the model card must flag.
 */
async function makeRun(dir: string, dataRoot: string, seed: number, weights: 'imagenet' | 'synthetic' = 'imagenet'): Promise<void> {
  const rng = new Rng(seed);
  const items: { rel: string; label: number; patient: string; source: string; view: string }[] = [];
  const p: number[] = [];
  const add = (source: string, label: number, n: number, score: () => number) => {
    for (let i = 0; i < n; i++) {
      const k = items.length;
      items.push({ rel: `test/${label ? 'covid' : 'non'}/img-${k}.png`, label, patient: `pt${Math.floor(k / 2)}`, source, view: k % 3 === 0 ? 'AP' : 'PA' });
      p.push(Math.min(1, Math.max(0, score())));
    }
  };
  add('mixed-src', 1, 20, () => rng.next());
  add('mixed-src', 0, 20, () => rng.next());
  add('covid-only', 1, 20, () => 0.75 + 0.25 * rng.next());
  add('non-only', 0, 60, () => 0.3 * rng.next());
  probs = Float64Array.from(p);
  labels = Uint8Array.from(items.map((i) => i.label));
  threshold = 0.35;
  metrics = evaluatePredictions(
    { probs, labels, patients: items.map((i) => i.patient), groups: { source: items.map((i) => i.source), view: items.map((i) => i.view) } },
    { thresholds: PAPER_PROTOCOL.thresholds, operatingThreshold: threshold, targetSensitivity: 0.98, prevalence: 40 / 120, bootstrap: { reps: 200, seed: 0 } },
  );
  const record: RunRecord = {
    format: 'deep-covid-run',
    version: 1,
    id: 'synthetic',
    createdAt: '2026-01-02T03:04:05.000Z',
    config: { ...PAPER_PROTOCOL, backbone: 'resnet18' },
    backbone: {
      name: 'resnet18',
      file: '/models/resnet18.onnx',
      sha256: 'ab'.repeat(32),
      weights,
      note: 'test backbone',
      manifest: {
        architecture: 'resnet18', input: 'input',
        preprocess: { resizeShorter: 224, interpolation: 'bilinear', crop: [224, 224], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
        features: { pooled: 'pooled', map: null }, head: { kind: 'linear', dropout: 0 },
      },
    } as RunRecord['backbone'],
    data: {
      root: dataRoot, origin: 'manifest', hash: 'cd'.repeat(32), validationBy: 'patient',
      counts: { train: { n: 400, covid: 100 }, trainAugmented: { n: 800, covid: 500 }, val: { n: 40, covid: 10 }, test: { n: 120, covid: 40 } },
      failures: [],
    },
    training: { bestEpoch: 7, bestValLoss: 0.31, epochs: 12 },
    threshold: { value: threshold, chosenOn: 'validation', targetSensitivity: 0.98, fallback: false },
    timings: {},
  };
  const history = Array.from({ length: 12 }, (_, e) => ({ epoch: e + 1, trainLoss: 0.7 / (e + 1), valLoss: 0.3 + Math.abs(e - 6) * 0.02, valAccuracy: 0.8, improved: e <= 6 }));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'run.json'), JSON.stringify(record, null, 2));
  await writeFile(join(dir, 'head.json'), JSON.stringify(headToJSON(createHead({ kind: 'linear', inChannels: 4, dropout: 0 }, 0))));
  await writeFile(join(dir, 'metrics.json'), JSON.stringify(metrics, null, 1));
  await writeFile(join(dir, 'predictions.csv'), predictionsCsv(items.map((i) => ({ ...i, split: 'test' })) as never, probs, threshold));
  await writeFile(join(dir, 'history.csv'), historyCsv(history as never));
  // small grey images for the sample grid
  for (const it of items) {
    const f = join(dataRoot, it.rel);
    await mkdir(join(f, '..'), { recursive: true });
    const px = Buffer.alloc(24 * 30, (items.indexOf(it) * 37) % 256);
    await sharp(px, { raw: { width: 24, height: 30, channels: 1 } }).png().toFile(f);
  }
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'dc-report-'));
  runDir = join(root, 'runs', 'synthetic');
  await makeRun(runDir, join(root, 'data'), 7);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function stripDataUris(html: string): string {
  return html.replace(/data:[a-z]+\/[a-z+.-]+;base64,[A-Za-z0-9+/=]+/g, 'DATA');
}

test('ROC chart data are the ROC points of metrics.json, in order', async () => {
  const stored = JSON.parse(await readFile(join(runDir, 'metrics.json'), 'utf8')) as EvaluationReport;
  const pts = rocPoints([{ label: 'm', roc: stored.roc! }]);
  const spec = rocSpec(pts, [], 'ROC') as unknown as { layer: { data: { values: { fpr: number; tpr: number; i: number }[] } }[] };
  const values = spec.layer[1].data.values;
  assert.equal(values.length, stored.roc!.fpr.length);
  assert.deepEqual(values.map((v) => v.fpr), stored.roc!.fpr);
  assert.deepEqual(values.map((v) => v.tpr), stored.roc!.tpr);
  assert.deepEqual(values.map((v) => v.i), stored.roc!.fpr.map((_, i) => i));
});

test('histogram bins count every COVID and non-COVID image once, in the right bin', async () => {
  const run = await loadReportRun(runDir);
  const bins = probabilityHistogram(run.predictions);
  const sum = (cls: string) => bins.filter((b) => b.cls === cls).reduce((s, b) => s + b.count, 0);
  assert.equal(sum('COVID'), 40);
  assert.equal(sum('non-COVID'), 80);
  // independent count per bin from the stored probabilities (6 decimals in predictions.csv)
  for (const b of bins) {
    const lab = b.cls === 'COVID' ? 1 : 0;
    let k = 0;
    for (let i = 0; i < probs.length; i++) {
      const q = Number(probs[i].toFixed(6));
      if (labels[i] === lab && q >= b.lower && (q < b.upper || (b.upper === 1 && q === 1))) k++;
    }
    assert.equal(b.count, k, `${b.cls} bin [${b.lower}, ${b.upper})`);
  }
  const spec = histogramSpec(bins, threshold, 'H') as unknown as { vconcat: { layer: { data: { values: { count: number }[] } }[] }[] };
  assert.equal(spec.vconcat[0].layer[0].data.values.reduce((s, v) => s + v.count, 0), 40);
  assert.equal(spec.vconcat[1].layer[0].data.values.reduce((s, v) => s + v.count, 0), 80);
});

test('confusion matrix cells equal the operating point and a direct count', () => {
  const cells = confusionCells(metrics.operatingPoint.confusion);
  let tp = 0, fn = 0, fp = 0, tn = 0;
  for (let i = 0; i < probs.length; i++) {
    const called = probs[i] >= threshold;
    if (labels[i] && called) tp++;
    else if (labels[i]) fn++;
    else if (called) fp++;
    else tn++;
  }
  const get = (a: string, p: string) => cells.find((c) => c.actual === a && c.predicted === p)!.count;
  assert.deepEqual([get('COVID', 'COVID'), get('COVID', 'non-COVID'), get('non-COVID', 'COVID'), get('non-COVID', 'non-COVID')], [tp, fn, fp, tn]);
  assert.equal(tp + fn, 40);
  const spec = confusionSpec(cells, 'C') as unknown as { data: { values: { count: number; text: string }[] } };
  assert.deepEqual(spec.data.values.map((v) => v.count), [tp, fn, fp, tn]);
  assert.match(spec.data.values[0].text, new RegExp(`^${tp} \\(`));
});

test('run report: self-contained HTML, Markdown, SVG and PNG figures', async () => {
  const out = join(root, 'report-a');
  const { files } = await writeRunReport(runDir, out);
  assert.ok(files.length >= 10);
  const html = await readFile(join(out, 'report.html'), 'utf8');
  const md = await readFile(join(out, 'report.md'), 'utf8');
  const bare = stripDataUris(html);
  assert.doesNotMatch(bare, /https?:/i);
  assert.doesNotMatch(bare, /\/\//);
  assert.doesNotMatch(bare, /<script/i);
  assert.doesNotMatch(bare, /<link/i);
  assert.doesNotMatch(bare, /@import|url\((?!#)/i);
  for (const m of bare.matchAll(/\b(?:src|href)="([^"]*)"/g)) assert.ok(m[1] === 'DATA' || m[1].startsWith('#'), `reference ${m[1]}`);
  // every chart inlined; sample grid embedded as a PNG data URI
  for (const title of ['False positive rate', 'True positive rate', 'P(COVID)', 'Predicted', 'Actual', 'Mean predicted P(COVID) in bin', 'Epoch', 'Cross-entropy loss']) {
    assert.ok(html.includes(title), `axis title ${title}`);
  }
  assert.equal((html.match(/<svg/g) ?? []).length, 6);
  assert.match(html, /src="data:image\/png;base64,/);
  // tables with CIs and the model card
  assert.match(md, /\| 0\.1 \| \d+\.\d% \(\d+\.\d–\d+\.\d\) \|/);
  assert.match(md, /## Model card/);
  // P(COVID)'s calibration in words and PPV/NPV at 1%, 5%, 10% and the test set's prevalence
  assert.match(md, /### PPV and NPV at a clinic's prevalence\n\nP\(COVID\) is calibrated to the test set's class mix \(\d+% COVID\)/);
  for (const p of ['1.0%', '5.0%', '10.0%']) assert.match(md, new RegExp(`\\| ${p.replace('.', '\\.')} \\| \\d+\\.\\d% \\(\\d+\\.\\d%–\\d+\\.\\d%\\) \\| \\d+\\.\\d% \\(`));
  assert.match(md, /\| \d+\.\d% \(this set\) \|/);
  assert.match(md, /not a diagnostic device/);
  assert.match(md, /\| view \| images \|/);
  assert.match(md, /!\[[^\]]*\]\(figures\/roc\.svg\)/);
  assert.match(html, /<table>/);
});

test('figures: SVGs parse and carry axis titles; PNGs are twice the SVG width', async () => {
  const out = join(root, 'report-a');
  const names = (await readdir(join(out, 'figures'))).sort();
  for (const n of ['calibration', 'confusion', 'histogram', 'roc', 'threshold-sweep', 'training']) {
    assert.ok(names.includes(`${n}.svg`) && names.includes(`${n}.png`), n);
    const svg = await readFile(join(out, 'figures', `${n}.svg`), 'utf8');
    assert.match(svg, /^<svg [^>]*width="(\d+)"/);
    const w = Number(/width="(\d+)"/.exec(svg)![1]);
    assert.equal((await sharp(Buffer.from(svg)).metadata()).format, 'svg');
    const png = await readFile(join(out, 'figures', `${n}.png`));
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, w * PNG_SCALE, n);
  }
  const roc = await readFile(join(out, 'figures', 'roc.svg'), 'utf8');
  assert.match(roc, /False positive rate/);
  assert.match(roc, /resnet18: AUC \d\.\d{3}/);
  const samples = await sharp(await readFile(join(out, 'figures', 'samples.png'))).metadata();
  assert.equal(samples.width, 110 + 6 * 158 + 8);
});

test('the same run folder gives byte-identical reports', async () => {
  const a = join(root, 'report-a');
  const b = join(root, 'report-b');
  await writeRunReport(runDir, b);
  const list = async (d: string) => [...(await readdir(d)).filter((f) => f !== 'figures'), ...(await readdir(join(d, 'figures'))).map((f) => `figures/${f}`)].sort();
  const la = await list(a);
  assert.deepEqual(await list(b), la);
  for (const f of la) assert.ok((await readFile(join(a, f))).equals(await readFile(join(b, f))), f);
});

test('model card flags the source shortcut and the weak within-source AUC', async () => {
  const h = findHazards(metrics);
  assert.deepEqual(h.singleClassSources.map((s) => [s.source, s.cls]), [['covid-only', 'COVID'], ['non-only', 'non-COVID']]);
  assert.ok(metrics.auc!.value > 0.8);
  const weak = h.weakGroups.filter((w) => w.kind === 'source').map((w) => w.name);
  assert.deepEqual(weak, ['mixed-src']);
  const md = await readFile(join(root, 'report-a', 'report.md'), 'utf8');
  assert.match(md, /\*\*Source shortcut\.\*\* 67% of the test images/);
  assert.match(md, /inside mixed-src \(20 COVID, 20 non-COVID test images\) the AUC is/);
  assert.match(md, /No shortcut check was found/);
});

test('shortcut check and explanation panels are included when present', async () => {
  const dir = join(root, 'runs', 'with-extras');
  await makeRun(dir, join(root, 'data'), 7);
  const auc = (a: number, lower: number, upper: number) => ({ auc: a, lower, upper });
  const check = {
    run: dir, data: 'data', split: 'test', n: 40, positives: 20,
    region: { name: 'ellipses', description: 'two ellipses', note: 'the lung region is geometric', areaShare: 0.3 },
    auc: { full: auc(0.93, 0.9, 0.96), lungsHidden: auc(0.71, 0.65, 0.77), lungsOnly: auc(0.8, 0.74, 0.86) },
    camOutside: { all: 0.4, covid: 0.5, images: 40, areaShareOutside: 0.7 },
    flag: { flagged: true, reasons: ['with the lungs hidden the model still separates COVID from non-COVID better than chance'], rule: 'the rule' },
    failures: [],
  };
  await writeFile(join(dir, 'shortcut-check.json'), JSON.stringify(check));
  await mkdir(join(dir, 'explanations'), { recursive: true });
  const png = await sharp({ create: { width: 20, height: 10, channels: 3, background: { r: 200, g: 0, b: 0 } } }).png().toBuffer();
  await writeFile(join(dir, 'explanations', 'gradcam-1.png'), png);
  const { out } = await writeRunReport(dir);
  assert.equal(out, join(dir, 'report'));
  const md = await readFile(join(out, 'report.md'), 'utf8');
  assert.match(md, /\| lung region hidden \| 0\.710 \(0\.650–0\.770\) \|/);
  assert.match(md, /\*\*Flagged: possible shortcut learning\.\*\* with the lungs hidden/);
  assert.doesNotMatch(md, /```json/);
  assert.match(md, /figures\/explanation-gradcam-1\.png/);
  const html = await readFile(join(out, 'report.html'), 'utf8');
  assert.ok(html.includes(`data:image/png;base64,${png.toString('base64')}`));
});

test('reproduce report: the paper\'s Table 6 beside ours, run reports written and linked, all models on one ROC chart', async () => {
  const rep = join(root, 'reproduce');
  await makeRun(join(rep, 'resnet18'), join(root, 'data'), 7, 'synthetic');
  await makeRun(join(rep, 'squeezenet1_1'), join(root, 'data'), 8);
  // the ensemble of the two runs, as reproduce writes it (scored by the same evaluation; here the second run's numbers)
  const ens = join(rep, 'ensemble');
  await mkdir(ens, { recursive: true });
  const members = await Promise.all(['resnet18', 'squeezenet1_1'].map(async (b) => {
    const rec = JSON.parse(await readFile(join(rep, b, 'run.json'), 'utf8')) as { id: string; backbone: { sha256: string } };
    return { dir: `../${b}`, runId: rec.id, backbone: b, weightsSha256: rec.backbone.sha256 };
  }));
  await writeFile(join(ens, 'ensemble.json'), JSON.stringify({ format: 'deep-covid-ensemble', version: 1, id: 'ensemble', createdAt: new Date().toISOString(), members, combine: 'logit', validationAuc: { probability: 0.9, logit: 0.91 }, threshold: { value: 0.0625, chosenOn: 'validation', targetSensitivity: 0.98, fallback: false } }));
  for (const f of ['metrics.json', 'predictions.csv']) await writeFile(join(ens, f), await readFile(join(rep, 'squeezenet1_1', f)));
  await writeFile(join(rep, 'comparison.json'), JSON.stringify([{ backbone: 'resnet18', run: 'x' }, { backbone: 'alexnet', skipped: 'alexnet.onnx not found' }, { backbone: 'squeezenet1_1', run: 'y' }, { backbone: 'ensemble', ensemble: true, run: ens }]));
  const { out, runReports, notes } = await writeReproduceReport(rep);
  // the fake runs' backbone files do not exist, so no heatmaps: said, not fatal
  assert.equal(notes.length, 2);
  for (const n of notes) assert.match(n, /^(resnet18|squeezenet1_1): no heatmaps in its report \(/);
  const md = await readFile(join(out, 'report.md'), 'utf8');
  assert.match(md, /## Did we reproduce the paper\? \(Table 6\)/);
  assert.match(md, /- alexnet: skipped \(alexnet\.onnx not found\)/);
  // the paper's own figures beside ours, ours computed from each run's metrics
  for (const [name, p] of [['resnet18', PAPER_TABLE6.resnet18], ['squeezenet1_1', PAPER_TABLE6.squeezenet1_1]] as const) {
    const m = (await loadReportRun(join(rep, name))).metrics!;
    const o = m.optimisticThreshold!;
    const row = md.split('\n').find((l) => l.startsWith(`| ${name} |`) && l.includes('fitted') === false && l.includes(o.threshold.toFixed(4)))!;
    assert.ok(row, `Table 6 row of ${name}`);
    assert.ok(row.includes(`${p.specificity[0]}% ± ${p.specificity[1]}%`), row);
    assert.ok(row.includes(pctCi(o.metrics.specificity)) && row.includes(pctCi(o.metrics.sensitivity)), row);
  }
  const sq = (await loadReportRun(join(rep, 'squeezenet1_1'))).metrics!;
  const spec = sq.optimisticThreshold!.metrics.specificity;
  assert.match(md, new RegExp(`reach a specificity of ${(100 * spec.estimate!).toFixed(0)}%`));
  assert.match(md, /### Why our numbers differ/);
  assert.match(md, /Patient-disjoint split/);
  assert.match(md, /threshold chosen on validation|Threshold chosen on validation/);
  assert.match(md, /resnet18 ran without ImageNet weights/);
  // each model's run report exists and is linked relative to the reproduce report
  assert.deepEqual(runReports, [join(rep, 'resnet18', 'report', 'report.html'), join(rep, 'squeezenet1_1', 'report', 'report.html')]);
  for (const f of runReports) assert.ok((await readFile(f, 'utf8')).startsWith('<!DOCTYPE html>'));
  assert.match(md, /\[squeezenet1_1 report\]\(\.\.\/squeezenet1_1\/report\/report\.html\)/);
  const html = stripDataUris(await readFile(join(out, 'report.html'), 'utf8'));
  assert.doesNotMatch(html, /https?:|\/\/|<script|<link/i);
  for (const m of html.matchAll(/\bhref="([^"]*)"/g)) assert.ok(m[1].startsWith('#') || /^\.\.\/[\w.-]+\/report\/report\.html$/.test(m[1]), `reference ${m[1]}`);
  assert.match(html, /<a href="\.\.\/resnet18\/report\/report\.html">resnet18 report<\/a>/);
  assert.match(md, /AUC within mixed-src/);
  // the ensemble is a row of both tables, with its validation threshold and links to its members' reports, and a section of its own
  const ensRow = md.split('\n').find((l) => l.startsWith('| ensemble (resnet18 + squeezenet1_1; mean log-odds, chosen on validation) | 0.0625 |'));
  assert.ok(ensRow, 'ensemble row at its validation threshold');
  assert.ok(ensRow.includes(`${pctCi(sq.operatingPoint.sensitivity)} | ${pctCi(sq.operatingPoint.specificity)}`), ensRow);
  assert.ok(ensRow.includes('members: [resnet18](../resnet18/report/report.html), [squeezenet1_1](../squeezenet1_1/report/report.html)'), ensRow);
  assert.match(md, /^## ensemble \(resnet18 \+ squeezenet1_1; mean log-odds, chosen on validation\)$/m);
  // ROC legend: below the plot, labels whole (no cut "…")
  const roc = await readFile(join(out, 'figures', 'roc-all.svg'), 'utf8');
  assert.match(roc, />resnet18 \[synthetic weights\]: AUC \d\.\d{3} \(\d\.\d{3}–\d\.\d{3}\)</);
  assert.match(roc, />squeezenet1_1: AUC \d\.\d{3} \(\d\.\d{3}–\d\.\d{3}\)</);
  assert.match(roc, />ensemble: AUC \d\.\d{3} \(\d\.\d{3}–\d\.\d{3}\)</);
  assert.doesNotMatch(roc, /…/);
  const legendY = Number(/role-legend"[^>]*><g transform="translate\([\d.]+,([\d.]+)\)"/.exec(roc)![1]);
  assert.ok(legendY > 420, `legend at y ${legendY}, inside the 420 px plot`);
  // a run report written earlier is kept, not rewritten
  const before = await readFile(runReports[0]);
  await writeFile(runReports[0], 'kept');
  await writeReproduceReport(rep);
  assert.equal(await readFile(runReports[0], 'utf8'), 'kept');
  await writeFile(runReports[0], before);
});

test('histograms use log-odds bins: probabilities near a 0.04 threshold fall in several bars, not one', async () => {
  const rows = [0.02, 0.03, 0.035, 0.04, 0.05, 0.07, 0.09].map((p, i) => ({ file: `f${i}`, label: 0 as const, probability: p, patient: '', source: '', view: '' }));
  const bins = probabilityHistogram(rows).filter((b) => b.cls === 'non-COVID' && b.count > 0);
  assert.ok(bins.length >= 4, `${bins.length} bars`);
  for (const b of probabilityHistogram(rows)) assert.ok(Math.abs(b.upperLogit - b.lowerLogit - LOGIT_BINS.width) < 1e-12);
  const md = await readFile(join(root, 'report-a', 'report.md'), 'utf8');
  assert.match(md, /log-odds axis/);
});

test('one model card: the report\'s card, model-card.json/.html and the server\'s /api/model come from the same data', async () => {
  const out = join(root, 'report-a');
  const run = await loadReportRun(runDir);
  const card = buildModelCard(run);
  assert.deepEqual(JSON.parse(await readFile(join(out, 'model-card.json'), 'utf8')), JSON.parse(JSON.stringify(card)));
  const md = await readFile(join(out, 'report.md'), 'utf8');
  assert.ok(md.includes(modelCardMarkdown(card).trim()), 'the report embeds the card rendered from the data');
  const page = await readFile(join(out, 'model-card.html'), 'utf8');
  for (const l of card.limitations) assert.ok(page.includes(l.replace(/&/g, '&amp;').replace(/'/g, '\'')), l);
  assert.match(page, /<h1 id="model-card">Model card<\/h1>/);
  // the server serves the same card plus its limits (its model service builds the card with buildModelCard too; this run's backbone is fake)
  const model: Predictor = { runId: card.runId, card: buildModelCard({ ...(await readRunDir(runDir)), shortcutCheck: await readShortcutCheck(runDir) }), modelRef: card.model, operatingPoint: null, predict: () => Promise.reject(new Error('not used')), close: async () => {} };
  const app = await buildServer({ model });
  try {
    const served = (await app.inject({ method: 'GET', url: '/api/model' })).json() as ApiModelCard;
    const { limits, ...rest } = served;
    assert.ok(limits.maxUploadBytes > 0);
    assert.deepEqual(rest, JSON.parse(JSON.stringify(card)));
  } finally {
    await app.close();
  }
  // texts live once: the hazards of the synthetic data are in the card's data, and the card has no absolute paths
  assert.ok(card.hazards.some((z) => z.title === 'Source shortcut'));
  assert.doesNotMatch(JSON.stringify(card), new RegExp(root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
});

test('CLI: deep-covid report writes the report and rejects ambiguous arguments', async () => {
  const lines: string[] = [];
  const io = { out: (s: string) => lines.push(s), err: (s: string) => lines.push(s) };
  const out = join(root, 'cli-out');
  assert.equal(await main(['node', 'deep-covid', 'report', '--run', runDir, '--out', out], io), 0);
  assert.match(lines.join('\n'), /report written to .*report\.html/);
  assert.ok((await readFile(join(out, 'report.html'), 'utf8')).startsWith('<!DOCTYPE html>'));
  assert.equal(await main(['node', 'deep-covid', 'report'], io), 2);
  assert.equal(await main(['node', 'deep-covid', 'report', '--run', runDir, '--reproduce', runDir], io), 2);
  assert.equal(await main(['node', 'deep-covid', 'report', '--run', join(root, 'nope')], io), 1);
});
