/**
 * The input gate on the development data, per real-weight backbone (squeezenet1_1, mobilenet_v2):
 * the gate is fitted exactly as `train` fits it (covidx5k-dev's training images, i.e. the run's
 * training and validation parts: density on all of them, cut-offs from 5-fold patient-grouped
 * out-of-fold scores, the warning weighing each image's mirror symmetry), then every test chest X-ray, every not-cxr image (CT slices, lateral films,
 * photographs) and every DICOM fixture goes through the whole gate. Also: the old calibration
 * (version 1: density on the training part, cut-offs on the seed-0 validation split) against the
 * new, the density methods compared on the same features and validation rule, and the cut-offs'
 * spread over re-drawn validation splits (old) and re-drawn fold assignments (new).
 * Usage: npx tsx bench/gate.ts [--resplits N (default 10)] [--cache DIR (keep features)] [--write]
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Backbone } from '../src/backbone/backbone.js';
import { readDataset, splitOf, type DatasetItem } from '../src/dataset/read.js';
import { FeatureCache } from '../src/features/cache.js';
import { extractFeatures } from '../src/features/extract.js';
import { assessScore, crossFitScores, empiricalQuantile, fitGate, fitGateCrossFitted, fitViewCalibration, gateFiles, gateToJSON, logNormalFit, measureSymmetry, scoreFeatures, type FeatureRows, type GateModel, type GatedFile } from '../src/gate/index.js';
import { validationSplit } from '../src/protocol/validation-split.js';
import { PAPER_PROTOCOL } from '../src/protocol/config.js';
import { normalQuantile } from '../src/util/normal.js';
import { PROJECT_ROOT } from '../src/util/paths.js';
import { writeBenchSection } from './markdown-section.js';

const SHARED = resolve(PROJECT_ROOT, '../shared');
const MODELS = join(SHARED, 'models');
const DEV_SET = join(SHARED, 'data', 'covidx5k-dev');
const NOT_CXR = join(SHARED, 'data', 'not-cxr');
const DICOM = join(SHARED, 'data', 'dicom');
// resnet50: the real-weight conversion the registry fetches, measured when it is on this machine (no download)
const BACKBONES = ['squeezenet1_1', 'mobilenet_v2', 'resnet50'];
const KINDS = ['ct', 'lateral-xray', 'photo'] as const;

const args = process.argv.slice(2);
const write = args.includes('--write');
const resplits = Number(args[args.indexOf('--resplits') + 1] ?? NaN) || 10;
const keepCache = args.includes('--cache') ? resolve(args[args.indexOf('--cache') + 1]) : null;

function rows(features: Float32Array, dim: number, idx: readonly number[]): FeatureRows {
  const data = new Float32Array(idx.length * dim);
  idx.forEach((r, k) => data.set(features.subarray(r * dim, (r + 1) * dim), k * dim));
  return { data, n: idx.length, dim };
}

const quantileOf = (v: ArrayLike<number>, q: number) => empiricalQuantile(Array.from(v).sort((a, b) => a - b), q);

function lognormalQuantile(v: ArrayLike<number>, q: number): number {
  const { logMean, logSd } = logNormalFit(v);
  return Math.exp(logMean + normalQuantile(q) * logSd);
}

/** Cosine k-NN distance (mean over the k nearest training rows), the alternative to Mahalanobis. */
function knnScores(train: FeatureRows, query: FeatureRows, k: number): Float64Array {
  const { dim } = train;
  const unit = (r: FeatureRows) => {
    const u = new Float64Array(r.n * dim);
    for (let i = 0; i < r.n; i++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += r.data[i * dim + j] ** 2;
      const inv = 1 / Math.sqrt(s || 1);
      for (let j = 0; j < dim; j++) u[i * dim + j] = r.data[i * dim + j] * inv;
    }
    return u;
  };
  const a = unit(train);
  const b = unit(query);
  const out = new Float64Array(query.n);
  const d = new Float64Array(train.n);
  for (let q = 0; q < query.n; q++) {
    for (let t = 0; t < train.n; t++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += a[t * dim + j] * b[q * dim + j];
      d[t] = 1 - s;
    }
    d.sort();
    let s = 0;
    for (let i = 0; i < k; i++) s += d[i];
    out[q] = s / k;
  }
  return out;
}

function squared(r: FeatureRows): FeatureRows {
  return { ...r, data: r.data.map((v) => v * v) };
}

const pct = (k: number, n: number) => (n ? `${((100 * k) / n).toFixed(1)}%` : '–');
const above = (s: ArrayLike<number>, c: number) => Array.from(s).filter((x) => !(x <= c)).length;

interface KindRow {
  kind: string;
  n: number;
  refused: number;
  warned: number;
  passed: number;
  failed: number;
}

function tally(kind: string, results: GatedFile[]): KindRow {
  const row: KindRow = { kind, n: results.length, refused: 0, warned: 0, passed: 0, failed: 0 };
  for (const r of results) {
    if ('error' in r) row.failed++;
    else row[r.gate.verdict]++;
  }
  return row;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).sort().map((f) => join(dir, f)).filter((f) => statSync(f).isFile());
}

async function main(): Promise<void> {
  const cacheDir = keepCache ?? (await mkdtemp(join(tmpdir(), 'bench-gate-')));
  const cache = new FeatureCache(cacheDir);
  const ds = await readDataset(DEV_SET);
  const trainAll = splitOf(ds, 'train');
  const testItems = splitOf(ds, 'test');
  const split = validationSplit(trainAll, PAPER_PROTOCOL.valFraction, PAPER_PROTOCOL.seed);
  const notCxr = Object.fromEntries(KINDS.map((k) => [k, listFiles(join(NOT_CXR, k))])) as Record<(typeof KINDS)[number], string[]>;
  const dicomFiles = readdirSync(DICOM).filter((f) => f.endsWith('.dcm') && !f.startsWith('bad-')).sort();
  const out: string[] = [];
  const load0 = loadavg()[0];
  const when = new Date().toISOString().slice(0, 10);
  out.push(`Measured ${when} with \`npx tsx bench/gate.ts --resplits ${resplits}\` (2 cores, load average ${load0.toFixed(1)} at the start). Data: covidx5k-dev with the seed-0 patient-disjoint validation split a run makes (${split.train.length} training images, ${split.val.length} validation, ${testItems.length} test) and not-cxr (${KINDS.map((k) => `${notCxr[k].length} ${k}`).join(', ')}).`);
  out.push('');
  out.push('"Flagged" = refused or warned (anything but a clean pass). The cut-offs are set from the training images only (out-of-fold scores, 5 patient-grouped folds; version 1: the validation split); the test set and not-cxr only measure.');
  const verdictRows: string[] = [];
  const methodRows: string[] = [];
  const resplitRows: string[] = [];
  const costRows: string[] = [];
  const calRows: string[] = [];
  const foldRows: string[] = [];
  const dicomVerdicts = new Map<string, string[]>();
  // mirror symmetry of every image involved (pixels only: the same for every backbone)
  const symmetryOf = new Map<string, number>();
  {
    const files = [...trainAll, ...testItems].map((i) => i.file).concat(KINDS.flatMap((k) => notCxr[k]));
    const sym = await measureSymmetry(files);
    files.forEach((f, i) => symmetryOf.set(f, sym[i]));
  }
  const symRows = ([['training (training + validation parts)', trainAll.map((i) => i.file)], ['test chest X-rays', testItems.map((i) => i.file)], ...KINDS.map((k) => [k, notCxr[k]])] as [string, string[]][])
    .map(([label, fs]) => {
      const v = fs.map((f) => symmetryOf.get(f)!).sort((a, b) => a - b);
      return `| ${label} | ${v.length} | ${[0.01, 0.05, 0.25, 0.5, 0.75].map((q) => empiricalQuantile(v, q).toFixed(2)).join(' | ')} |`;
    });
  const skipped: string[] = [];
  const measured: string[] = [];
  try {
    for (const name of BACKBONES) {
      const shared = join(MODELS, `${name}.onnx`);
      let bb: Backbone;
      try {
        bb = await Backbone.load(name, { ...(existsSync(shared) ? { path: shared } : {}), download: false });
      } catch (err) {
        skipped.push(`${name} (not on this machine: ${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
        continue;
      }
      if (bb.weights !== 'imagenet') {
        skipped.push(`${name} (only ${bb.weights} weights on this machine)`);
        await bb.release();
        continue;
      }
      measured.push(name);
      try {
        // pooled features of every image involved (cached: the re-splits reuse them)
        const allItems: DatasetItem[] = [...trainAll, ...testItems];
        const files = [...allItems.map((i) => i.file), ...KINDS.flatMap((k) => notCxr[k])];
        const ex = await extractFeatures(bb, files.map((file) => ({ file })), { tensor: 'pooled', cache });
        if (ex.failures.length) throw new Error(`feature extraction failed: ${ex.failures.map((f) => f.message).join('; ')}`);
        const feats = ex.features!;
        const dim = ex.dim;
        const indexOf = new Map(files.map((f, i) => [f, i]));
        const idx = (items: readonly { file: string }[]) => items.map((i) => indexOf.get(i.file)!);
        const at = (fs: readonly string[]) => fs.map((f) => indexOf.get(f)!);
        const train = rows(feats, dim, idx(split.train));
        const val = rows(feats, dim, idx(split.val));
        // what `train` fits on: its training and validation originals, folds grouped by patient
        const inDist = [...split.train, ...split.val];
        const inRows = rows(feats, dim, idx(inDist));
        const patients = inDist.map((i) => i.patient ?? i.rel);

        // the gate as `train` fits it
        const t0 = performance.now();
        const gate = fitGateCrossFitted(inRows, patients, { backboneSha256: bb.modelSha256, folds: 5, seed: 0, symmetry: inDist.map((i) => symmetryOf.get(i.file)!) });
        const gateV2 = { ...gate, view: undefined };
        const fitMs = performance.now() - t0;
        const gateV1 = fitGate(train, val, { backboneSha256: bb.modelSha256 });
        const jsonBytes = Buffer.byteLength(JSON.stringify(gateToJSON(gate)));
        const t1 = performance.now();
        const testRows = rows(feats, dim, idx(testItems));
        scoreFeatures(gate, testRows.data, testRows.n);
        const scoreUs = ((performance.now() - t1) * 1000) / testRows.n;

        // the whole gate (header + image facts + learned) on every file
        const t2 = performance.now();
        const gatedTest = await gateFiles(bb, gate, testItems.map((i) => i.file), { cache });
        const gateMs = (performance.now() - t2) / testItems.length;
        const kindRows: KindRow[] = [
          tally('test: chest X-rays (all)', gatedTest),
          tally('test: COVID', gatedTest.filter((_, i) => testItems[i].label === 1)),
          tally('test: non-COVID', gatedTest.filter((_, i) => testItems[i].label === 0)),
        ];
        const gatedKinds: GatedFile[] = [];
        for (const k of KINDS) {
          const g = await gateFiles(bb, gate, notCxr[k], { cache });
          gatedKinds.push(...g);
          kindRows.push(tally(`not-cxr: ${k}`, g));
        }
        kindRows.push(tally('not-cxr: all', gatedKinds));
        const gatedDicom = await gateFiles(bb, gate, dicomFiles.map((f) => join(DICOM, f)), { cache });
        gatedDicom.forEach((g, i) => {
          const cell = 'error' in g ? `error: ${g.error.replace(/^.*?: /, '')}` : `${g.gate.verdict}${g.gate.reasons.filter((r) => r.level !== 'note').length ? ` (${g.gate.reasons.filter((r) => r.level !== 'note').map((r) => r.code).join(', ')})` : ''}`;
          dicomVerdicts.set(dicomFiles[i], [...(dicomVerdicts.get(dicomFiles[i]) ?? []), cell]);
        });
        for (const r of kindRows) {
          verdictRows.push(`| ${name} | ${r.kind} | ${r.n} | ${r.refused} | ${r.warned} | ${r.passed} | **${pct(r.refused + r.warned, r.n - r.failed)}** |`);
        }
        const cal = gate.calibration;
        const flaggedIn = cal.split === 'cross-fitted' ? cal.flagged : cal.validationFlagged;
        costRows.push(`| ${name} | ${dim} | ${gate.density.shrinkage.toFixed(3)} | ${gate.cutoff.toFixed(2)} (empirical ${cal.empiricalQuantile.toFixed(2)}) | ${gate.farCutoff.toFixed(2)} | ${flaggedIn}/${cal.n} | ${gate.view ? `${gate.view.cutoff.toFixed(2)} (${gate.view.flagged}/${gate.view.n})` : '–'} | ${(fitMs / 1000).toFixed(2)} | ${(jsonBytes / 1e6).toFixed(2)} | ${scoreUs.toFixed(0)} | ${gateMs.toFixed(1)} |`);

        const query = { test: rows(feats, dim, idx(testItems)), ...Object.fromEntries(KINDS.map((k) => [k, rows(feats, dim, at(notCxr[k]))])) } as Record<string, FeatureRows>;
        const nNotCxr = KINDS.reduce((s, k) => s + query[k].n, 0);

        // old calibration against new: learned check alone (score above the warning cut-off)
        const oof10 = crossFitScores(inRows, patients, { folds: 10, seed: 0 });
        const oof5 = crossFitScores(inRows, patients, { folds: 5, seed: 0 });
        const lnCut = (s: ArrayLike<number>) => lognormalQuantile(s, 0.99);
        const foldSpread = (byFold: Float64Array[]) => {
          const c = byFold.map(lnCut);
          return `${Math.min(...c).toFixed(2)}–${Math.max(...c).toFixed(2)}`;
        };
        const calibrations: [string, GateModel, number, number, string][] = [
          ['v1: density on training part, log-normal 99% of 53 validation scores', gateV1, gateV1.cutoff, gateV1.calibration.n, '–'],
          ['v2: density on all, log-normal 99% of 5-fold out-of-fold scores', gateV2, gate.cutoff, oof5.scores.length, foldSpread(oof5.byFold)],
          ['v2: density on all, empirical 99th percentile of 5-fold out-of-fold scores', gate, quantileOf(oof5.scores, 0.99), oof5.scores.length, '–'],
          ['v2: density on all, log-normal 99% of 10-fold out-of-fold scores', gate, lnCut(oof10.scores), oof10.scores.length, foldSpread(oof10.byFold)],
        ];
        for (const [label, g, cut, nCal, spread] of calibrations) {
          const sq = Object.fromEntries(Object.entries(query).map(([k, q]) => [k, scoreFeatures(g, q.data, q.n)]));
          const caught = KINDS.reduce((s, k) => s + above(sq[k], cut), 0);
          calRows.push(`| ${name} | ${label} | ${nCal} | ${cut.toFixed(2)} | ${spread} | ${pct(above(sq.test, cut), query.test.n)} | ${KINDS.map((k) => pct(above(sq[k], cut), query[k].n)).join(' | ')} | **${pct(caught, nNotCxr)}** |`);
        }
        // version 3 (what `train` writes): the evidence of score and asymmetry against its own cut-off
        const filesOf: Record<string, string[]> = { test: testItems.map((i) => i.file), ...notCxr };
        const finalScores = Object.fromEntries(Object.entries(query).map(([k, q]) => [k, scoreFeatures(gate, q.data, q.n)]));
        const flaggedBy = (g: GateModel, k: string) => filesOf[k].filter((f, i) => assessScore(g, finalScores[k][i], symmetryOf.get(f)).facts.flagged).length;
        {
          const caught = KINDS.reduce((s, k) => s + flaggedBy(gate, k), 0);
          calRows.push(`| ${name} | v3: v2 weighing mirror symmetry: z of log score + z of log asymmetry, normal 99% of the out-of-fold evidence (chosen) | ${gate.view!.n} | evidence ${gate.view!.cutoff.toFixed(2)} | – | ${pct(flaggedBy(gate, 'test'), query.test.n)} | ${KINDS.map((k) => pct(flaggedBy(gate, k), query[k].n)).join(' | ')} | **${pct(caught, nNotCxr)}** |`);
        }
        // the new cut-off's spread over re-drawn fold assignments (the final density is the same)
        const foldStats = { cut: [] as number[], test: [] as number[], not: [] as number[] };
        const viewStats = { cut: [] as number[], test: [] as number[], not: [] as number[] };
        const symIn = inDist.map((i) => symmetryOf.get(i.file)!);
        const finalTest = scoreFeatures(gate, query.test.data, query.test.n);
        const finalNot = KINDS.flatMap((k) => Array.from(scoreFeatures(gate, query[k].data, query[k].n)));
        for (let seed = 1; seed <= resplits; seed++) {
          const oof = crossFitScores(inRows, patients, { folds: 5, seed }).scores;
          const cut = lnCut(oof);
          foldStats.cut.push(cut);
          // version 3 with this seed's out-of-fold scores: the score's log-normal and the evidence cut-off both move
          const core = { ...gate.calibration, ...logNormalFit(oof) };
          const g3: GateModel = { ...gate, calibration: core, view: fitViewCalibration(oof, symIn, core) };
          viewStats.cut.push(g3.view!.cutoff);
          viewStats.test.push(flaggedBy(g3, 'test') / finalTest.length);
          viewStats.not.push(KINDS.reduce((s, k) => s + flaggedBy(g3, k), 0) / finalNot.length);
          foldStats.test.push(above(finalTest, cut) / finalTest.length);
          foldStats.not.push(above(finalNot, cut) / finalNot.length);
        }
        const span = (v: number[], scale: number, digits: number) => `${(scale * Math.min(...v)).toFixed(digits)} / ${((scale * v.reduce((a, b) => a + b, 0)) / v.length).toFixed(digits)} / ${(scale * Math.max(...v)).toFixed(digits)}`;
        foldRows.push(`| ${name} | v2: log-normal 99%, 5 folds, fold seeds 1–${resplits} | ${span(foldStats.cut, 1, 2)} | ${span(foldStats.test, 100, 1)} | ${span(foldStats.not, 100, 1)} |`);
        foldRows.push(`| ${name} | v3: evidence (score and mirror symmetry), normal 99%, 5 folds, fold seeds 1–${resplits} | evidence ${span(viewStats.cut, 1, 2)} | ${span(viewStats.test, 100, 1)} | ${span(viewStats.not, 100, 1)} |`);

        // methods compared on the same features and the seed-0 validation split; both validation rules
        const methods: [string, (q: FeatureRows) => Float64Array][] = [
          ['Mahalanobis, Ledoit-Wolf, square-rooted features (chosen)', (q) => scoreFeatures(gateV1, q.data, q.n)],
          ['Mahalanobis, Ledoit-Wolf, raw features', ((g: GateModel) => (q: FeatureRows) => scoreFeatures(g, squared(q).data, q.n))(fitGate(squared(train), squared(val), { backboneSha256: bb.modelSha256 }))],
          ['k-NN cosine distance, k = 1', (q) => knnScores(train, q, 1)],
          ['k-NN cosine distance, mean of k = 5', (q) => knnScores(train, q, 5)],
        ];
        for (const [label, score] of methods) {
          const sv = score(val);
          const sq = Object.fromEntries(Object.entries(query).map(([k, q]) => [k, score(q)]));
          for (const [rule, cut] of [['log-normal 99%', lognormalQuantile(sv, 0.99)], ['empirical 99th percentile', quantileOf(sv, 0.99)]] as const) {
            const caught = KINDS.reduce((s, k) => s + above(sq[k], cut), 0);
            const auc = rocAuc(Array.from(sq.test), KINDS.flatMap((k) => Array.from(sq[k])));
            methodRows.push(`| ${name} | ${label} | ${rule} | ${pct(above(sq.test, cut), query.test.n)} | ${KINDS.map((k) => pct(above(sq[k], cut), query[k].n)).join(' | ')} | **${pct(caught, nNotCxr)}** | ${auc.toFixed(3)} |`);
          }
        }

        // the cut-off's spread: re-drawn patient-disjoint validation splits (seeds 1..R)
        const stats = { lognormal: { test: [] as number[], not: [] as number[] }, empirical: { test: [] as number[], not: [] as number[] } };
        for (let seed = 1; seed <= resplits; seed++) {
          const sp = validationSplit(trainAll, PAPER_PROTOCOL.valFraction, seed);
          const g = fitGate(rows(feats, dim, idx(sp.train)), rows(feats, dim, idx(sp.val)), { backboneSha256: bb.modelSha256 });
          const st = scoreFeatures(g, query.test.data, query.test.n);
          const sn = KINDS.flatMap((k) => Array.from(scoreFeatures(g, query[k].data, query[k].n)));
          const emp = g.calibration.empiricalQuantile;
          stats.lognormal.test.push(above(st, g.cutoff) / st.length);
          stats.lognormal.not.push(above(sn, g.cutoff) / sn.length);
          stats.empirical.test.push(above(st, emp) / st.length);
          stats.empirical.not.push(above(sn, emp) / sn.length);
        }
        const mmm = (v: number[]) => `${(100 * Math.min(...v)).toFixed(1)} / ${((100 * v.reduce((a, b) => a + b, 0)) / v.length).toFixed(1)} / ${(100 * Math.max(...v)).toFixed(1)}`;
        for (const rule of ['lognormal', 'empirical'] as const) {
          resplitRows.push(`| ${name} | v1: ${rule === 'lognormal' ? 'log-normal 99%' : 'empirical 99th percentile'} of the validation scores | ${mmm(stats[rule].test)} | ${mmm(stats[rule].not)} |`);
        }
      } finally {
        await bb.release();
      }
    }
  } finally {
    if (!keepCache) await rm(cacheDir, { recursive: true, force: true });
  }
  if (skipped.length) out.push('', `Not measured: ${skipped.join('; ')}.`);
  out.push('', '### Verdicts of the whole gate (header, image facts, learned check)', '');
  out.push('| backbone | images | n | refused | warned | passed | flagged |', '|---|---|---:|---:|---:|---:|---:|', ...verdictRows);
  out.push('', '### The fitted gates', '');
  out.push('| backbone | channels | Ledoit-Wolf shrinkage | score cut-off (log-normal 99%) | refusal cut-off (tail 1e-6) | out-of-fold scores above cut-off | evidence cut-off (normal 99%; out-of-fold above it) | fit (s) | gate.json (MB) | score (µs/image) | whole gate, test images (ms/image) |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|', ...costRows);
  out.push('', '"Whole gate" includes reading each file again and measuring its pixels; features come from the cache filled before.');
  out.push('', '"Fit" is the whole cross-fitted fit (5 fold densities and the final one); measuring the training images\' mirror symmetry, which `train` also does, is not in it.');
  out.push('', '### Mirror symmetry (left-right, best axis within ±5% of the centre; a pixel fact, the same for every backbone; quantiles)', '');
  out.push('| images | n | 1% | 5% | 25% | median | 75% |', '|---|---:|---:|---:|---:|---:|---:|', ...symRows);
  out.push('', 'Alone it separates only in part: a cut-off at the training films\' 1% quantile would catch between a quarter and a half of the lateral films (and 1% of chest films). Weighed with the feature score it catches the lateral films the score alone just misses (next table).');
  out.push('', '### Old calibration against new (learned check alone: score above the warning cut-off)', '');
  out.push(`| backbone | calibration | scores it was set on | warning cut-off | per-fold cut-offs | test chest X-rays flagged | ${KINDS.join(' | ')} | not-cxr caught |`, `|---|---|---:|---:|---:|---:|${KINDS.map(() => '---:').join('|')}|---:|`, ...calRows);
  out.push('', '### Density methods compared (version-1 calibration: the seed-0 validation split; flagged = score above its cut-off)', '');
  out.push(`| backbone | method | validation rule | test chest X-rays flagged | ${KINDS.join(' | ')} | not-cxr caught | AUC test vs not-cxr |`, `|---|---|---|---:|${KINDS.map(() => '---:').join('|')}|---:|---:|`, ...methodRows);
  out.push('', `### The cut-off over ${resplits} re-drawn validation splits (v1) and fold assignments (v2) (seeds 1–${resplits}; min / mean / max)`, '');
  out.push('| backbone | calibration | test chest X-rays flagged (%) | not-cxr caught (%) |', '|---|---|---:|---:|', ...resplitRows);
  out.push('', '| backbone | calibration | warning cut-off | test chest X-rays flagged (%) | not-cxr caught (%) |', '|---|---|---:|---:|---:|', ...foldRows);
  out.push('', '### DICOM fixtures (../shared/data/dicom, good files)', '');
  out.push(`| file | ${measured.join(' | ')} |`, `|---|${measured.map(() => '---').join('|')}|`, ...dicomFiles.map((f) => `| \`${f}\` | ${(dicomVerdicts.get(f) ?? []).join(' | ')} |`));
  const body = out.join('\n');
  console.log(body);
  if (write) await writeBenchSection('gate', 'Input gate', body);
}

/** AUC of "not-cxr scores above test scores" (ties count half). */
function rocAuc(neg: number[], pos: number[]): number {
  let s = 0;
  for (const p of pos) for (const n of neg) s += p > n ? 1 : p === n ? 0.5 : 0;
  return s / (pos.length * neg.length);
}

await main();
