import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { PAPER_BACKBONES } from '../../backbone/registry.js';
import { PAPER_PROTOCOL, type ProtocolConfig } from '../../protocol/config.js';
import { trainRun } from '../../protocol/train-run.js';
import { evaluateRun } from '../../tasks/evaluate-run.js';
import { predictFiles } from '../../tasks/predict.js';
import { reproduce } from '../../protocol/reproduce.js';
import { buildEnsemble } from '../../protocol/ensemble.js';
import { aucCi, pctCi } from '../../protocol/run-files.js';
import { reportAfterRun } from '../../report/after-run.js';
import { shortcutCheck } from '../../tasks/shortcut-check.js';
import { DEV_SHARED } from '../../util/paths.js';
import { addFilesFromOption, resolveFileArguments } from '../file-list.js';
import { expandImageInputs } from '../image-inputs.js';
import { addRuntimeOptions, backboneOptions, featureCache, numberIn, positiveInt, wholeNumber, type RuntimeOptions , progressOf } from '../common.js';

interface ProtocolCliOptions extends RuntimeOptions {
  data?: string;
  manifest?: string;
  out?: string;
  force?: boolean;
  seed: string;
  epochs: string;
  batchSize: string;
  lr: string;
  augment: string;
  classWeights?: boolean;
  valFraction: string;
  targetSensitivity: string;
  thresholds?: string;
  prevalence?: string;
  greyLevels: string;
  borderCrop: string;
  lungField?: boolean;
  acquisitionAugment?: boolean;
  sampling: string;
  sourceNull: string;
  /** false with --no-report */
  report?: boolean;
  /** false with --no-shortcut-check */
  shortcutCheck?: boolean;
}

/** The development set beside the checkout, the default data of `reproduce`. */
export const DEV_DATA = join(DEV_SHARED, 'data', 'covidx5k-dev');

function addProtocolOptions(cmd: Command): Command {
  const d = PAPER_PROTOCOL;
  return cmd
    .option('--manifest <csv>', 'manifest CSV (default: <data>/manifest.csv when present)')
    .option('--force', 'replace an existing output folder')
    .option('--seed <n>', 'seed of the validation split, augmentation, initialisation, shuffling and dropout', String(d.seed))
    .option('--epochs <n>', 'training epochs', String(d.epochs))
    .option('--batch-size <n>', 'training batch size', String(d.batchSize))
    .option('--lr <x>', 'Adam learning rate', String(d.lr))
    .option('--augment <k>', 'each COVID training image plus k-1 augmented copies (1 = none)', String(d.augmentFactor))
    .option('--class-weights', 'weight the loss by inverse class frequency')
    .option('--val-fraction <x>', 'share of training patients held out for validation', String(d.valFraction))
    .option('--target-sensitivity <x>', 'sensitivity the validation-chosen operating threshold must reach', String(d.targetSensitivity))
    .option('--thresholds <list>', 'extra thresholds for the tables, comma-separated (0.1..0.5 always included)')
    .option('--prevalence <x>', 'prevalence for PPV/NPV (default: the test set\'s)')
    .option('--grey-levels <method>', 'robustness: standardise the grey levels of every crop: none, clahe, equalize or stretch (see RESULTS.md)', d.greyLevels)
    .option('--border-crop <fraction>', 'robustness: cut this fraction of the shorter side from each edge before the crop (film borders, markers), 0..0.25', String(d.borderCrop))
    .option('--lung-field', 'robustness: keep only the geometric lung fields of every crop, the rest filled with their mean grey (borders, markers and text cannot be learnt)')
    .option('--acquisition-augment', 'robustness: add gamma, blur, resolution, noise and JPEG augmentation, to both classes')
    .option('--sampling <mode>', 'robustness: shuffle (the paper), source (each image source equally often) or source-class', d.sampling)
    .option('--source-null <rounds>', 'robustness: keep the head orthogonal to the feature directions that tell the image sources apart within each class (iterative null-space projection, this many rounds; 0 = off)', String(d.sourceNull))
    .option('--no-report', 'skip the HTML/Markdown report with figures (make it later with deep-covid report)')
    .option('--no-shortcut-check', 'skip the shortcut check on the test split (is the model looking at the lungs? stored in the run folder and its report)');
}

function protocolConfig(o: ProtocolCliOptions): Omit<ProtocolConfig, 'backbone'> {
  const extra = (o.thresholds ?? '').split(',').map((s) => s.trim()).filter(Boolean).map((s) => numberIn(s, '--thresholds', 0, 1));
  return {
    ...PAPER_PROTOCOL,
    seed: wholeNumber(o.seed, '--seed'),
    epochs: positiveInt(o.epochs, '--epochs'),
    batchSize: positiveInt(o.batchSize, '--batch-size'),
    lr: numberIn(o.lr, '--lr', 1e-12, 1),
    augmentFactor: positiveInt(o.augment, '--augment'),
    classWeighting: !!o.classWeights,
    valFraction: numberIn(o.valFraction, '--val-fraction', 0.01, 0.9),
    targetSensitivity: numberIn(o.targetSensitivity, '--target-sensitivity', 0.01, 1),
    thresholds: [...new Set([...PAPER_PROTOCOL.thresholds, ...extra])].sort((a, b) => a - b),
    prevalence: o.prevalence === undefined ? null : numberIn(o.prevalence, '--prevalence', 0, 1),
    greyLevels: oneOf(o.greyLevels, '--grey-levels', ['none', 'clahe', 'equalize', 'stretch'] as const),
    borderCrop: numberIn(o.borderCrop, '--border-crop', 0, 0.25),
    lungField: !!o.lungField,
    acquisitionAugment: !!o.acquisitionAugment,
    sampling: oneOf(o.sampling, '--sampling', ['shuffle', 'source', 'source-class'] as const),
    sourceNull: wholeNumber(o.sourceNull, '--source-null'),
  };
}

function oneOf<T extends string>(value: string, flag: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag} ${value}: choose one of ${allowed.join(', ')}`);
  return value as T;
}

function limits(o: RuntimeOptions) {
  return { maxPixels: positiveInt(o.maxPixels, '--max-pixels') };
}

/** Registers train, evaluate, predict and reproduce. */
export function registerProtocol(program: Command, io: { out: (s: string) => void; err: (s: string) => void }): void {
  const log = (s: string) => io.err(s);

  const train = program.command('train').description('train a new last layer on a frozen backbone (the Deep-COVID protocol) and evaluate it on the test split')
    .requiredOption('--data <dir>', 'dataset folder: train|test/covid|non (ImageFolder) or with manifest.csv')
    .requiredOption('--out <dir>', 'run folder to write (e.g. runs/squeezenet)')
    .option('--backbone <name>', `backbone: ${Object.values(PAPER_BACKBONES).join(', ')}`, 'squeezenet1_1')
    .option('--model <file>', 'use this ONNX file (any torchvision-style classifier) instead of the registry lookup');
  addRuntimeOptions(addProtocolOptions(train)).addHelpText('after', `
Examples:
  deep-covid train --data ../shared/data/covidx5k-dev --backbone squeezenet1_1 --out runs/squeezenet
  deep-covid train --data my-set --backbone resnet18 --model resnet18.onnx --epochs 50 --out runs/r18`);
  train.action(async (o: ProtocolCliOptions & { backbone: string; model?: string }) => {
    const res = await trainRun({
      data: o.data!, manifest: o.manifest, out: o.out!, force: o.force, config: { ...protocolConfig(o), backbone: o.backbone },
      modelPath: o.model, runtime: backboneOptions(o), cache: featureCache(o), limits: limits(o), onProgress: progressOf(o), log,
    });
    const m = res.metrics;
    io.out(`run written to ${res.dir}`);
    if (m && o.shortcutCheck !== false) await shortcutAfterRun(res.dir, o.data!, o, log);
    if (o.report !== false) await reportAfterRun(res.dir, 'run', log);
    if (m) io.out(`test AUC ${aucCi(m)}; at threshold ${res.record.threshold.value.toFixed(4)}: sensitivity ${pctCi(m.operatingPoint.sensitivity)}, specificity ${pctCi(m.operatingPoint.specificity)}`);
  });

  const evaluate = program.command('evaluate').description('evaluate a trained run on a dataset (e.g. an external one) at the run\'s operating threshold')
    .requiredOption('--run <dir>', 'run folder written by train')
    .requiredOption('--data <dir>', 'dataset folder or manifest root')
    .option('--manifest <csv>', 'manifest CSV (default: <data>/manifest.csv when present)')
    .option('--split <name>', 'split to evaluate, or "all"', 'test')
    .option('--out <dir>', 'output folder (default: <run>/evaluations/<data>-<split>)')
    .option('--prevalence <x>', 'a clinic\'s prevalence (0–1) for PPV/NPV, added to the table of 1%, 5%, 10% and the set\'s own (default: the evaluated set\'s)')
    .option('--model <file>', 'the backbone ONNX file, if it moved since training')
    .option('--no-gate', 'research use: the input gate refuses nothing; every image is scored and the outputs say so');
  addRuntimeOptions(evaluate).addHelpText('after', `
Examples:
  deep-covid evaluate --run runs/squeezenet --data ../shared/data/covidx5k-dev
  deep-covid evaluate --run runs/squeezenet --data external-set --split all`);
  evaluate.action(async (o: RuntimeOptions & { run: string; data: string; manifest?: string; split: string; out?: string; prevalence?: string; model?: string; gate: boolean }) => {
    const res = await evaluateRun({
      run: o.run, data: o.data, manifest: o.manifest, split: o.split, out: o.out,
      prevalence: o.prevalence === undefined ? undefined : numberIn(o.prevalence, '--prevalence', 0, 1),
      runtime: backboneOptions(o), modelPath: o.model, cache: featureCache(o), limits: limits(o), onProgress: progressOf(o), gate: o.gate,
    });
    const op = res.metrics.operatingPoint;
    const g = res.gate;
    io.out(`evaluation written to ${res.out}`);
    if (res.overlap.warning) log(`warning: ${res.overlap.warning}`);
    if (!g.enabled) log(`warning: the input gate is off (--no-gate): nothing was refused; ${g.wouldRefuse} image(s) it would have refused are in the metrics`);
    else if (g.refused) log(`${g.refused} image(s) refused by the input gate and left out of the metrics (listed in gate.csv): ${Object.entries(g.refusedByReason).map(([k, n]) => `${k} ${n}`).join(', ')}`);
    if (g.warned) log(`${g.warned} image(s) scored with a warning from the input gate (gate.csv)`);
    io.out(`${res.metrics.n} images: AUC ${aucCi(res.metrics)}; sensitivity ${pctCi(op.sensitivity)}, specificity ${pctCi(op.specificity)}${res.failures ? `; ${res.failures} unreadable file(s) skipped` : ''}`);
  });

  const predict = program.command('predict').description('P(COVID) for image files (PNG, JPEG, TIFF, WebP, DICOM) as JSON lines')
    .requiredOption('--run <dir>', 'run folder written by train')
    .argument('[files...]', 'image files (or folders, with --recursive)')
    .option('-r, --recursive', 'predict every image in the folders given, subfolders too (recognised by content; other files skipped)')
    .option('--model <file>', 'the backbone ONNX file, if it moved since training')
    .option('--no-gate', 'research use: the input gate refuses nothing (every line then says so, and what would have been refused)');
  addRuntimeOptions(addFilesFromOption(predict)).addHelpText('after', `
Output: one JSON object per line:
  {"file", "probability", "label", "threshold", "sha256", "gate"}  predicted (gate.verdict passed or warned)
  {"file", "sha256", "refused": true, "gate"}                      refused by the input gate: not a frontal
                                                                    chest radiograph like the training images
                                                                    (gate.reasons says why, in words)
  {"file", "error", "problem"}                                     could not be read
Exit code 1 only when no file could be predicted or refused.
Examples:
  deep-covid predict --run runs/squeezenet xray1.png xray2.dcm
  deep-covid predict --run runs/squeezenet --recursive scans/
  find archive -name '*.png' | deep-covid predict --run runs/squeezenet --files-from -`);
  predict.action(async (args: string[], o: RuntimeOptions & { run: string; model?: string; filesFrom?: string; recursive?: boolean; gate: boolean }) => {
    const inputs = await expandImageInputs(await resolveFileArguments(args, o.filesFrom), !!o.recursive);
    for (const f of inputs.opened) log(`${f.folder}: ${f.images} image(s)${f.skipped ? `, ${f.skipped} other file(s) skipped` : ''}`);
    const preds = inputs.files.length
      ? await predictFiles({ run: o.run, files: inputs.files, runtime: backboneOptions(o), modelPath: o.model, cache: featureCache(o), limits: limits(o), onProgress: undefined, gate: o.gate, warn: (m) => log(`warning: ${m}`) })
      : [];
    const folders = inputs.folders.map((f) => ({ file: f, error: `${f} is a folder: pass --recursive to predict the images in it`, problem: 'unreadable' }));
    for (const p of [...preds, ...folders]) io.out(JSON.stringify(p));
    const all = preds.length + folders.length;
    const bad = [...preds.filter((p) => 'error' in p), ...folders];
    const refused = preds.filter((p) => 'refused' in p);
    if (all === 0) log('no image found in the folders given');
    if (!o.gate) log('warning: the input gate is off (--no-gate): nothing was refused, whatever it is; every line says so');
    if (refused.length) log(`${refused.length} of ${all} file(s) refused by the input gate (not a frontal chest radiograph like the training images): ${refused.map((b) => b.file).join(', ')}`);
    if (bad.length) log(`${bad.length} of ${all} input(s) could not be predicted: ${bad.map((b) => b.file).join(', ')}`);
    if (bad.length === all) process.exitCode = 1;
  });

  const repro = program.command('reproduce').description('the whole paper: every available backbone trained and evaluated, then the comparison tables')
    .option('--data <dir>', `dataset folder (default: the development set ${DEV_DATA} when present)`)
    .option('--out <dir>', 'output folder (default: runs/reproduce-<date-time>)')
    .option('--backbones <list>', 'comma-separated backbones', PAPER_BACKBONES.join(','));
  addRuntimeOptions(addProtocolOptions(repro)).addHelpText('after', `
Writes one run folder per backbone plus comparison.md (paper Table 6 and Tables 2-5) and comparison.json.
Backbones whose ONNX file cannot be found are skipped with the reason.
Examples:
  deep-covid reproduce
  deep-covid reproduce --data my-covidx5k --backbones squeezenet1_1,mobilenet_v2 --out runs/paper`);
  repro.action(async (o: ProtocolCliOptions & { backbones: string }) => {
    const data = o.data ?? (existsSync(DEV_DATA) ? DEV_DATA : undefined);
    if (!data) throw new UsageError(`no --data given and the development set ${DEV_DATA} is not there: pass --data DIR`);
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    const out = o.out ?? join('runs', `reproduce-${stamp}`);
    const backbones = o.backbones.split(',').map((s) => s.trim()).filter(Boolean);
    const res = await reproduce({ data, manifest: o.manifest, out, force: o.force, backbones, config: protocolConfig(o), runtime: backboneOptions(o), cache: featureCache(o), limits: limits(o), onProgress: progressOf(o), log });
    io.out(`reproduction written to ${res.out} (comparison.md, comparison.json, one run folder per backbone)`);
    if (o.shortcutCheck !== false) for (const e of res.entries) if ('run' in e && e.run.metrics) await shortcutAfterRun(e.run.dir, data, o, log);
    if (o.report !== false && res.entries.some((e) => 'run' in e)) await reportAfterRun(res.out, 'reproduce', log);
    for (const e of res.entries) {
      if ('skipped' in e) io.out(`  ${e.backbone}: skipped`);
      else io.out(`  ${e.backbone} (${e.run.record.backbone.weights} weights): AUC ${aucCi(e.run.metrics)}`);
    }
    if (res.ensemble) io.out(`  ensemble (${res.ensemble.record.members.map((m) => m.backbone).join(' + ')}): AUC ${aucCi(res.ensemble.metrics)}`);
  });

  const ens = program.command('ensemble').description('combine trained runs into one model: averaging and threshold chosen on their shared validation split')
    .requiredOption('--runs <list>', 'comma-separated run folders (trained on the same data with the same seed)')
    .requiredOption('--out <dir>', 'ensemble folder to write')
    .option('--force', 'replace an existing ensemble folder')
    .addHelpText('after', `
The ensemble folder works wherever a run folder does (predict, evaluate, explain, shortcut-check).
Examples:
  deep-covid ensemble --runs runs/squeezenet,runs/mobilenet --out runs/ensemble
  deep-covid predict --run runs/ensemble xray.png`);
  ens.action(async (o: { runs: string; out: string; force?: boolean }) => {
    const runs = o.runs.split(',').map((x) => x.trim()).filter(Boolean);
    const res = await buildEnsemble({ runs, out: o.out, force: o.force });
    io.out(`ensemble written to ${res.dir}: mean of ${res.record.combine === 'logit' ? 'log-odds' : 'probabilities'} (validation AUC ${res.record.validationAuc[res.record.combine].toFixed(4)}), threshold ${res.record.threshold.value.toFixed(4)}${res.metrics ? `; test AUC ${aucCi(res.metrics)}` : ''}`);
  });
}

/**
 * The shortcut check of a run that has just been trained, on its own test split, stored in the run
 * folder for its report. A failing check must not make the finished run look failed: it is logged.
 */
async function shortcutAfterRun(dir: string, data: string, o: ProtocolCliOptions, log: (msg: string) => void): Promise<void> {
  try {
    const r = await shortcutCheck({
      run: dir, data, manifest: o.manifest, split: 'test',
      runtime: backboneOptions(o), cache: featureCache(o), limits: limits(o), onProgress: progressOf(o), save: true,
    });
    log(`shortcut check: AUC ${r.auc.full.auc.toFixed(3)} on full images, ${r.auc.lungsHidden.auc.toFixed(3)} with the lungs hidden${r.flag.flagged ? ' — FLAGGED: ' + r.flag.reasons.join('; ') : ''}`);
  } catch (err) {
    log(`warning: the shortcut check of ${dir} could not run (${err instanceof Error ? err.message : String(err)}); run it with: deep-covid shortcut-check --run ${dir} --data ${data}`);
  }
}
