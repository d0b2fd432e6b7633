import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { UsageError } from '../../errors.js';
import { explainFiles, type ExplainMethod } from '../../tasks/explain-files.js';
import { FIXED_SCALE_TEXT, type DisplayScale } from '../../explain/heatmap.js';
import type { Rect } from '../../explain/occlusion.js';
import { formatShortcutReport } from '../../explain/shortcut.js';
import { shortcutCheck } from '../../tasks/shortcut-check.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { addFilesFromOption, resolveFileArguments } from '../file-list.js';
import { addRuntimeOptions, backboneOptions, featureCache, numberIn, positiveInt, type RuntimeOptions , progressOf } from '../common.js';

interface ExplainCliOptions extends RuntimeOptions {
  run: string;
  method: string;
  out: string;
  patch: string;
  stride: string;
  fill: string;
  batchSize: string;
  roi?: string;
  alpha: string;
  scale: string;
  scaleMax?: string;
  original?: boolean;
  captions: boolean;
  model?: string;
  filesFrom?: string;
}

function fillOption(v: string): 'mean' | number {
  if (v === 'mean') return 'mean';
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 255) throw new UsageError(`--fill must be "mean" or a grey level 0..255, got "${v}"`);
  return n;
}

function roiOption(v: string | undefined): Rect | undefined {
  if (v === undefined) return undefined;
  const parts = v.split(',').map((s) => Number(s.trim()));
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0) || parts[2] === 0 || parts[3] === 0) {
    throw new UsageError(`--roi must be x,y,width,height in crop pixels (whole numbers, e.g. 32,32,160,160), got "${v}"`);
  }
  return { x: parts[0], y: parts[1], width: parts[2], height: parts[3] };
}

/** Registers explain and shortcut-check. */
export function registerExplain(program: Command, io: { out: (s: string) => void; err: (s: string) => void }): void {
  const explain = program.command('explain').description('heatmaps of what a trained run looks at (occlusion sensitivity or class activation maps), as PNG pictures')
    .requiredOption('--run <dir>', 'run folder written by train')
    .argument('[files...]', 'image files (PNG, JPEG, TIFF, WebP, DICOM)')
    .requiredOption('--out <dir>', 'folder for the pictures and explain.<method>.json')
    .option('--method <name>', 'occlusion (model-agnostic, slow) or cam (one pass)', 'occlusion')
    .option('--patch <px>', 'occlusion patch side, in crop pixels', '32')
    .option('--stride <px>', 'occlusion step, in crop pixels', '16')
    .option('--fill <v>', 'occlusion patch fill: "mean" (the image mean) or a grey level 0..255', 'mean')
    .option('--batch-size <n>', 'occluded copies per backbone call', '32')
    .option('--roi <x,y,w,h>', 'occlude only patches overlapping this crop rectangle')
    .option('--alpha <x>', 'largest overlay opacity 0..1 (reached where the map is strongest)', '0.45')
    .addOption(new Option('--scale <mode>', 'colour scale: positive (0 to each map\'s own maximum), fixed (0 to --scale-max, the same for every image) or minmax').choices(['positive', 'fixed', 'minmax']).default('positive'))
    .option('--scale-max <v>', `full-colour map value of --scale fixed (default: ${FIXED_SCALE_TEXT})`)
    .option('--original', 'also write the overlay on the original image size')
    .option('--no-captions', 'no text in the panels')
    .option('--model <file>', 'the backbone ONNX file, if it moved since training');
  addRuntimeOptions(addFilesFromOption(explain)).addHelpText('after', `
Writes per file <name>.<method>.heatmap.png, .overlay.png, .panel.png (original | heatmap | overlay,
with a colour bar) and .npy (raw map, crop size), plus panel.<method>.png with all files and
explain.<method>.json with the probabilities, the maps' unit and the scale used.
Map values: occlusion = drop in P(COVID) when the region is hidden; cam = contribution to the
COVID − non-COVID logit difference. Colour map: viridis (dark violet = none/low, yellow = high);
overlays tint the grey crop only where the map is positive, in proportion to its strength.
By default each map is scaled to its own maximum (compare images by the "map max" in the
captions); --scale fixed puts every image on the same scale, so a faint map stays faint.
Examples:
  deep-covid explain --run runs/squeezenet --out heatmaps xray1.png xray2.dcm
  deep-covid explain --run runs/squeezenet --method cam --out heatmaps xray1.png
  deep-covid explain --run runs/squeezenet --method cam --scale fixed --out heatmaps a.png b.png`);
  explain.action(async (args: string[], o: ExplainCliOptions) => {
    const files = await resolveFileArguments(args, o.filesFrom);
    if (o.method !== 'occlusion' && o.method !== 'cam') throw new UsageError(`--method must be occlusion or cam, got "${o.method}"`);
    if (o.scaleMax !== undefined && o.scale !== 'fixed') throw new UsageError('--scale-max applies to --scale fixed only');
    const fixedMax = o.scaleMax === undefined ? undefined : numberIn(o.scaleMax, '--scale-max', 1e-9, 1e9);
    const alpha = numberIn(o.alpha, '--alpha', 0, 1);
    const summary = await explainFiles({
      run: o.run, files, method: o.method as ExplainMethod, out: o.out,
      patch: positiveInt(o.patch, '--patch'), stride: positiveInt(o.stride, '--stride'), fill: fillOption(o.fill),
      batchSize: positiveInt(o.batchSize, '--batch-size'), roi: roiOption(o.roi), alpha, scale: o.scale as DisplayScale, fixedMax,
      original: !!o.original, captions: o.captions, runtime: backboneOptions(o), modelPath: o.model,
      limits: { maxPixels: positiveInt(o.maxPixels, '--max-pixels') }, onProgress: progressOf(o),
    });
    for (const f of summary.files) {
      // the library's messages already name the file
      if ('error' in f) io.err(f.error.includes(f.file) ? f.error : `${f.file}: ${f.error}`);
      else io.out(`${f.file}: P(COVID) ${f.probability.toFixed(4)} (${f.label}) → ${f.outputs.panel}`);
    }
    const bad = summary.files.filter((f) => 'error' in f).length;
    io.out(`written to ${resolve(o.out)}${summary.panel ? ` (panel: ${summary.panel})` : ''}${summary.captions ? '' : '; no captions (no fonts found or --no-captions)'}`);
    if (bad) io.err(`${bad} of ${files.length} file(s) could not be explained`);
    if (bad === files.length) process.exitCode = 1;
  });

  const check = program.command('shortcut-check').description('does the run still separate the classes with the lungs hidden? (shortcut learning, DeGrave et al. 2021)')
    .requiredOption('--run <dir>', 'run folder written by train')
    .requiredOption('--data <dir>', 'dataset folder or manifest root')
    .option('--manifest <csv>', 'manifest CSV (default: <data>/manifest.csv when present)')
    .option('--split <name>', 'split to check, or "all"', 'test')
    .option('--fill <v>', 'mask fill: "mean" (each image\'s mean grey) or a grey level 0..255', 'mean')
    .option('--json <file>', 'also write the report as JSON to this file')
    .option('--no-save', 'do not store the report in the run folder (shortcut-check.json, shown by its report)')
    .option('--model <file>', 'the backbone ONNX file, if it moved since training');
  addRuntimeOptions(check).addHelpText('after', `
Compares the AUC on the full images, with a geometric lung region (two fixed ellipses in the
224 crop, not a segmentation) filled, and with only that region kept; reports the share of the
CAM heatmap outside the region. Exit code 0 either way; the verdict is in the output.
Examples:
  deep-covid shortcut-check --run runs/squeezenet --data ../shared/data/covidx5k-dev --json shortcut.json`);
  check.action(async (o: RuntimeOptions & { run: string; data: string; manifest?: string; split: string; fill: string; json?: string; model?: string; save: boolean }) => {
    const fill = fillOption(o.fill);
    const report = await shortcutCheck({
      run: o.run, data: o.data, manifest: o.manifest, split: o.split, fill: fill === 'mean' ? undefined : fill,
      runtime: backboneOptions(o), modelPath: o.model, cache: featureCache(o),
      limits: { maxPixels: positiveInt(o.maxPixels, '--max-pixels') }, onProgress: progressOf(o), save: o.save,
    });
    io.out(formatShortcutReport(report));
    if (o.json) {
      await writeFileAtomic(resolve(o.json), JSON.stringify(report, null, 1) + '\n');
      io.out(`report written to ${resolve(o.json)}`);
    }
  });
}
