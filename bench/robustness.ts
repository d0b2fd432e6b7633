// Robustness to the source (issue 14, part 3): trains the Deep-COVID protocol on the dev set under
// each robustness option (and combinations) and measures what the dev set offers without its source
// shortcut. Per configuration:
//   validation side (used to choose defaults): 5-fold patient-grouped cross-validation on the
//     training split, out-of-fold probabilities pooled: AUC within the covid-chestxray collection
//     (COVID vs other findings of the same source) and the overall CV AUC;
//   test side (measurement only, never used for a choice): the full test AUC, the AUC within the
//     covid-chestxray collection, and the AUC with the lung fields hidden (the shortcut check's
//     mask), each with its DeLong 95 % interval, from the trained run loaded as a model (so the
//     prediction path applies the run's recorded preprocessing).
// Results of each configuration are kept as JSON under the cache (a later call skips finished
// configurations); the table goes to RESULTS.md between its markers.
// Usage: npx tsx bench/robustness.ts [backbone=squeezenet1_1] [config,...|all] [folds=5]
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { readDataset, splitOf, type DatasetItem } from '../src/dataset/read.js';
import { delongAuc } from '../src/evaluate/index.js';
import { LungMaskAugmenter } from '../src/explain/shortcut.js';
import { FeatureCache } from '../src/features/cache.js';
import { loadModel } from '../src/model/index.js';
import type { ProtocolConfig } from '../src/protocol/config.js';
import { trainRun } from '../src/protocol/train-run.js';
import { formatCsv, parseCsv } from '../src/util/csv.js';
import { env } from '../src/util/env.js';
import { DEV_SHARED, PROJECT_ROOT } from '../src/util/paths.js';
import { writeFileAtomic } from '../src/util/atomic-write.js';

// benchmarks use the backbones in ../shared/models beside the checkout
env.devModels = true;

/** The collection holding both classes: within it, the source cannot tell COVID apart. */
const MIXED_SOURCE = 'hida6/covid-chestxray-dataset';

type Options = Partial<Pick<ProtocolConfig, 'greyLevels' | 'borderCrop' | 'lungField' | 'acquisitionAugment' | 'sampling' | 'sourceNull'>>;

/** The configurations measured, in table order. */
export const CONFIGS: { name: string; what: string; opts: Options }[] = [
  { name: 'baseline', what: "the paper's recipe", opts: {} },
  { name: 'clahe', what: 'CLAHE (8x8 tiles, clip 2)', opts: { greyLevels: 'clahe' } },
  { name: 'equalize', what: 'histogram equalisation', opts: { greyLevels: 'equalize' } },
  { name: 'stretch', what: 'percentile stretch 1-99', opts: { greyLevels: 'stretch' } },
  { name: 'border', what: 'border crop 8% per edge', opts: { borderCrop: 0.08 } },
  { name: 'acquisition', what: 'acquisition augmentation', opts: { acquisitionAugment: true } },
  { name: 'source', what: 'source-balanced sampling', opts: { sampling: 'source' } },
  { name: 'source-class', what: 'source-and-class-balanced sampling', opts: { sampling: 'source-class' } },
  { name: 'clahe+source-class', what: 'CLAHE + source-class sampling', opts: { greyLevels: 'clahe', sampling: 'source-class' } },
  { name: 'equalize+border', what: 'equalisation + border crop', opts: { greyLevels: 'equalize', borderCrop: 0.08 } },
  { name: 'all', what: 'CLAHE + border + acquisition + source-class', opts: { greyLevels: 'clahe', borderCrop: 0.08, acquisitionAugment: true, sampling: 'source-class' } },
  // added later (issue 14, second round): the complement of the lungs-hidden check as an input
  { name: 'lungs', what: 'lung fields only', opts: { lungField: true } },
  { name: 'lungs+source-class', what: 'lung fields only + source-class sampling', opts: { lungField: true, sampling: 'source-class' } },
  { name: 'lungs+stretch', what: 'lung fields only + percentile stretch', opts: { lungField: true, greyLevels: 'stretch' } },
  { name: 'source-null', what: 'source nulling, 10 rounds', opts: { sourceNull: 10 } },
  { name: 'source-null+clahe', what: 'source nulling, 10 rounds + CLAHE', opts: { sourceNull: 10, greyLevels: 'clahe' } },
  // fewer rounds, added after the 10-round rows (chosen on the CV columns only)
  { name: 'source-null-1', what: 'source nulling, 1 round', opts: { sourceNull: 1 } },
  { name: 'source-null-3', what: 'source nulling, 3 rounds', opts: { sourceNull: 3 } },
];

interface Auc { auc: number; ci: [number, number]; n: number; positives: number }
interface Result {
  config: string;
  backbone: string;
  cv: { folds: number; within: Auc; overall: Auc };
  test: { full: Auc; within: Auc; lungsHidden: Auc };
  seconds: number;
  cpuSeconds: number;
  load: number[];
  date: string;
}

const backboneName = process.argv[2] ?? 'squeezenet1_1';
const wanted = process.argv[3] && process.argv[3] !== 'all' ? process.argv[3].split(',') : CONFIGS.map((c) => c.name);
const folds = Number(process.argv[4] ?? 5);
const data = join(DEV_SHARED, 'data', 'covidx5k-dev');
const work = join(env.cacheDir, 'bench-robustness', backboneName);
const cache = new FeatureCache();

function aucOf(probs: ArrayLike<number>, labels: ArrayLike<number>): Auc {
  const p = Float64Array.from(probs);
  const l = Uint8Array.from(labels);
  const d = delongAuc(p, l);
  return { auc: d.auc, ci: [d.lower, d.upper], n: l.length, positives: l.reduce((s, v) => s + v, 0) };
}

/** Fold (0..k-1) of a patient: from a hash, so folds never depend on file order. */
function foldOf(patient: string, k: number): number {
  return createHash('sha256').update(`robustness-cv\0${patient}`).digest().readUInt32LE(0) % k;
}

/** Out-of-fold probabilities of every training-split image: k runs, each tested on one fold of patients. */
async function crossValidate(name: string, opts: Options, items: DatasetItem[]): Promise<{ probs: Map<string, number> }> {
  const manifestText = await readFile(join(data, 'manifest.csv'), 'utf8');
  const rows = parseCsv(manifestText);
  const columns = Object.keys(rows[0]);
  const patientOf = new Map(items.map((it) => [it.rel, it.patient ?? it.rel]));
  const probs = new Map<string, number>();
  for (let f = 0; f < folds; f++) {
    const cvRows = rows.map((r) => {
      const patient = patientOf.get(r.file);
      const split = patient === undefined ? 'unused' : foldOf(patient, folds) === f ? 'cvtest' : 'cvtrain';
      return { ...r, split };
    });
    const manifest = join(work, `cv-${f}.csv`);
    await writeFile(manifest, formatCsv(cvRows, columns));
    const out = join(work, 'runs', `${name}-cv${f}`);
    await trainRun({ data, manifest, out, force: true, cache, config: { backbone: backboneName, ...opts, trainSplit: 'cvtrain', testSplit: 'cvtest' } });
    for (const r of parseCsv(await readFile(join(out, 'predictions.csv'), 'utf8'))) probs.set(r.file, Number(r.probability));
    await rm(out, { recursive: true, force: true });
  }
  return { probs };
}

async function measure(name: string, opts: Options): Promise<Result> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const ds = await readDataset(data);
  const trainItems = splitOf(ds, 'train');
  const testItems = splitOf(ds, 'test');
  const { probs: oof } = await crossValidate(name, opts, trainItems);
  const cvItems = trainItems.filter((it) => oof.has(it.rel));
  const cvWithin = cvItems.filter((it) => it.source === MIXED_SOURCE);
  const cv = {
    folds,
    overall: aucOf(cvItems.map((it) => oof.get(it.rel)!), cvItems.map((it) => it.label)),
    within: aucOf(cvWithin.map((it) => oof.get(it.rel)!), cvWithin.map((it) => it.label)),
  };

  const out = join(work, 'runs', name);
  await trainRun({ data, out, force: true, cache, config: { backbone: backboneName, ...opts } });
  const model = await loadModel(out, {});
  try {
    const plain = testItems.map((it) => ({ file: it.file }));
    const full = await model.scoreRequests(plain, { cache });
    const hidden = await model.scoreRequests(testItems.map((it) => ({ file: it.file, variant: 1 })), { cache, augmenter: new LungMaskAugmenter('hide-lungs', model.preprocess) });
    const ok = testItems.flatMap((_, i) => (full.ok[i] && hidden.ok[i] ? [i] : []));
    const within = ok.filter((i) => testItems[i].source === MIXED_SOURCE);
    const label = (i: number) => testItems[i].label;
    const cpu = process.cpuUsage(cpu0);
    return {
      config: name,
      backbone: backboneName,
      cv,
      test: {
        full: aucOf(ok.map((i) => full.probs[i]), ok.map(label)),
        within: aucOf(within.map((i) => full.probs[i]), within.map(label)),
        lungsHidden: aucOf(ok.map((i) => hidden.probs[i]), ok.map(label)),
      },
      seconds: (performance.now() - t0) / 1000,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      load: loadavg(),
      date: new Date().toISOString(),
    };
  } finally {
    await model.release();
  }
}

const fmt = (a: Auc) => `${a.auc.toFixed(3)} [${a.ci[0].toFixed(2)}, ${a.ci[1].toFixed(2)}]`;

/** The table of all finished configurations of this backbone. */
async function table(): Promise<{ text: string; results: Result[] }> {
  const results: Result[] = [];
  for (const c of CONFIGS) {
    const r = await readFile(join(work, `${c.name}.json`), 'utf8').then((t) => JSON.parse(t) as Result, () => null);
    if (r) results.push(r);
  }
  const head = '| configuration | CV AUC within covid-chestxray (validation) | CV AUC overall (validation) | test AUC within covid-chestxray | test AUC lungs hidden | test AUC full |';
  const lines = results.map((r) => {
    const what = CONFIGS.find((c) => c.name === r.config)!.what;
    return `| ${r.config} (${what}) | ${fmt(r.cv.within)} | ${fmt(r.cv.overall)} | ${fmt(r.test.within)} | ${fmt(r.test.lungsHidden)} | ${fmt(r.test.full)} |`;
  });
  return { text: [head, '|---|---|---|---|---|---|', ...lines].join('\n'), results };
}

/** Replaces the marked section of RESULTS.md with this backbone's table and its conditions. */
async function writeResults(text: string, results: Result[]): Promise<void> {
  const file = join(PROJECT_ROOT, 'RESULTS.md');
  const doc = await readFile(file, 'utf8').catch(() => '# Results\n');
  const open = `<!-- robustness:${backboneName} -->`;
  const close = `<!-- /robustness:${backboneName} -->`;
  const dates = results.map((r) => r.date).sort();
  const loads = results.map((r) => r.load[0]);
  const conditions = `${backboneName}, ${folds}-fold patient-grouped CV on the training split; measured ${dates[0]?.slice(0, 16)} to ${dates.at(-1)?.slice(0, 16)} UTC, ` +
    `1-minute load average ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} (2 cores); CPU time per configuration ${results.map((r) => `${r.config} ${r.cpuSeconds.toFixed(0)} s`).join(', ')}.`;
  const block = `${open}\n${conditions}\n\n${text}\n${close}`;
  const i = doc.indexOf(open);
  const j = doc.indexOf(close);
  const next = i >= 0 && j > i ? doc.slice(0, i) + block + doc.slice(j + close.length) : `${doc.trimEnd()}\n\n### ${backboneName}\n\n${block}\n`;
  await writeFileAtomic(file, next);
}

await mkdir(join(work, 'runs'), { recursive: true });
for (const name of wanted) {
  const c = CONFIGS.find((x) => x.name === name);
  if (!c) throw new Error(`unknown configuration ${name} (known: ${CONFIGS.map((x) => x.name).join(', ')})`);
  const done = join(work, `${name}.json`);
  if (await readFile(done).then(() => true, () => false)) continue;
  console.log(`${new Date().toISOString()} ${backboneName} ${name}: measuring`);
  const r = await measure(name, c.opts);
  await writeFile(done, JSON.stringify(r, null, 1));
  console.log(`${name}: CV within ${fmt(r.cv.within)}, CV overall ${fmt(r.cv.overall)}, test within ${fmt(r.test.within)}, lungs hidden ${fmt(r.test.lungsHidden)}, full ${fmt(r.test.full)} (${r.cpuSeconds.toFixed(0)} CPU s)`);
}
const { text, results } = await table();
console.log(text);
await writeResults(text, results);
