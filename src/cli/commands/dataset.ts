import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { augmentDataset } from '../../dataset/augment.js';
import { buildDataset, loadBuildConfig } from '../../dataset/build.js';
import { checkDataset, formatCheckReport, formatTable } from '../../dataset/check.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { positiveInt, wholeNumber , progressOf } from '../common.js';

/** `deep-covid dataset build|augment|check`: make a dataset in the paper's layout, oversample it, and check it for leakage. */
export function registerDataset(program: Command, io: { out: (s: string) => void; err: (s: string) => void }): void {
  const dataset = program.command('dataset').description('build, augment and check datasets in the paper\'s layout (train|test/covid|non + manifest.csv)');

  dataset
    .command('build')
    .description('build a dataset from sources (folders + metadata CSVs) described by a JSON config: patient-disjoint, de-duplicated splits')
    .requiredOption('--config <file>', 'JSON config: sources (presets covid-chestxray, imagefolder, csv), size, split, seed, duplicates')
    .requiredOption('--out <dir>', 'output folder (new or empty; --force rebuilds a built one)')
    .option('--force', 'replace an existing built dataset in --out')
    .option('--concurrency <n>', 'images decoded at once', '4')
    .option('-q, --quiet', 'no progress output')
    .addHelpText('after', [
      '', 'Config example:',
      '  { "sources": [',
      '      { "name": "ieee8023", "preset": "covid-chestxray", "root": "covid-chestxray-dataset", "paOnly": false, "minAge": 18 },',
      '      { "name": "normals", "preset": "imagefolder", "root": "normals", "labels": { "normal": "non" } } ],',
      '    "size": 256, "split": "paper", "seed": 0, "duplicates": "keep-one" }',
      '  size: shorter side of the written 8-bit grey PNGs (default 256, Lanczos-3; smaller images are never upscaled)',
      '  split: "paper" (train 84/2000, test 100/3000 covid/non, scaled down to what exists),',
      '         {"fractions": {"train": 0.7, "test": 0.3}} or {"counts": {"train": {"covid": 84, "non": 2000}, ...}}',
      '  duplicates: "keep-one" (default) keeps one copy of each duplicate group, "group" keeps all copies in one split;',
      '              groups whose copies carry different labels are dropped. Patients of duplicates are merged before splitting.',
      '  covid-chestxray sources: ieee8023 metadata.csv; X-ray only, frontal views (or "paOnly": true), "minAge" (default 18).',
      '  csv sources: "metadata" and "columns" {file, label or finding, patient, view, age, sex, license, folder}.',
      '', 'Examples:',
      '  deep-covid dataset build --config sources.json --out data/covid5k',
      '  deep-covid dataset build --config sources.json --out data/covid5k --force',
    ].join('\n'))
    .action(async (o: { config: string; out: string; force?: boolean; concurrency: string; quiet?: boolean }) => {
      const cfg = await loadBuildConfig(o.config);
      const r = await buildDataset(cfg, dirname(resolve(o.config)), o.out, { force: o.force, onProgress: progressOf(o), concurrency: positiveInt(o.concurrency, '--concurrency') });
      io.out(`built ${r.out}: ${r.written} images from ${r.selected} selected in ${r.seconds.toFixed(1)} s (${r.imagesPerSecond.toFixed(1)} images/s)`);
      io.out(formatTable([['split', 'covid', 'non', 'target covid', 'target non'], ...Object.entries(r.counts).map(([s, c]) => [s, c.covid, c.non, r.targets[s].covid, r.targets[s].non])]));
      io.out(`duplicates: ${r.duplicatePairs.length} pair(s); ${r.removedDuplicates.length} copies removed; ${r.conflictingLabels.length} group(s) with conflicting labels dropped; ${r.unassigned} image(s) beyond the split counts left out`);
      for (const [src, d] of Object.entries(r.dropped)) for (const [why, k] of Object.entries(d)) io.out(`  ${src}: ${k} row(s) dropped (${why})`);
      for (const u of r.unreadable) io.out(`  unreadable: ${u.message}`);
      io.out(`manifest.csv and build-report.json written to ${r.out}`);
    });

  dataset
    .command('augment')
    .description('write factor-1 augmented copies (<stem>.aug<k>.png) of each image of a class, next to the originals, and add them to manifest.csv')
    .requiredOption('--data <dir>', 'dataset folder')
    .option('--class <name>', 'class to augment', 'covid')
    .option('--factor <n>', 'copies per original including itself (the paper: 5)', '5')
    .option('--split <name>', 'split to augment ("all" for every split)', 'train')
    .option('--seed <n>', 'augmentation seed (the same seed gives the same copies)', '0')
    .option('-q, --quiet', 'no progress output')
    .addHelpText('after', '\nExamples:\n  deep-covid dataset augment --data data/covid5k --class covid --factor 5\n  deep-covid dataset augment --data data/covid5k --split train --seed 1')
    .action(async (o: { data: string; class: string; factor: string; split: string; seed: string; quiet?: boolean }) => {
      const r = await augmentDataset(o.data, { className: o.class, factor: positiveInt(o.factor, '--factor'), split: o.split, seed: wholeNumber(o.seed, '--seed', 0), onProgress: progressOf(o) });
      io.out(`${r.originals} ${o.class} original(s): ${r.written} augmented file(s) written, ${r.existing} already present; ${r.manifestRowsAdded} manifest row(s) added${r.manifestCreated ? ' (manifest.csv created)' : ''}`);
    });

  dataset
    .command('check')
    .description('check a dataset: counts, patient overlap and duplicates across splits (exit 1 on leakage), unreadable files, sizes, hazards')
    .argument('<dir>', 'dataset folder')
    .option('--json <file>', 'also write the full report as JSON')
    .option('--concurrency <n>', 'images decoded at once', '4')
    .option('-q, --quiet', 'no progress output')
    .addHelpText('after', '\nExamples:\n  deep-covid dataset check ../shared/data/covidx5k-dev\n  deep-covid dataset check data/covid5k --json check.json')
    .action(async (dir: string, o: { json?: string; concurrency: string; quiet?: boolean }) => {
      const r = await checkDataset(dir, { onProgress: progressOf(o), concurrency: positiveInt(o.concurrency, '--concurrency') });
      for (const line of formatCheckReport(r)) io.out(line);
      if (o.json) await writeFileAtomic(o.json, `${JSON.stringify(r, null, 2)}\n`);
      if (r.leakage) process.exitCode = 1;
    });
}
