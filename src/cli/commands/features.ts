import { Option, type Command } from 'commander';
import { readDataset, splitOf } from '../../dataset/read.js';
import { createAugmenter } from '../../augment/index.js';
import { extractFeatures, type ExtractResult } from '../../features/extract.js';
import { extractFeaturesOnQueue } from '../../screen/queue/features.js';
import { addRuntimeOptions, featureCache, loadBackbone, positiveInt, wholeNumber, type RuntimeOptions, progressOf } from '../common.js';

interface FeaturesOptions extends RuntimeOptions {
  data: string;
  backbone: string;
  model?: string;
  split?: string;
  tensor?: 'pooled' | 'map';
  batch: string;
  augment: string;
  seed: string;
  queue?: string;
}

/** `deep-covid features`: fills the feature cache for a dataset and reports counts and speed. */
export function registerFeatures(program: Command, io: { out: (s: string) => void }): void {
  const cmd = program
    .command('features')
    .description('extract backbone features for every image of a dataset into the cache (later commands reuse them)')
    .requiredOption('--data <dir>', 'dataset folder (train|test/covid|non, or with manifest.csv)')
    .option('--backbone <name>', 'backbone: resnet18, resnet50, squeezenet1_1, densenet121, mobilenet_v2', 'squeezenet1_1')
    .option('--model <file>', 'use this ONNX file instead of the registry lookup')
    .option('--split <name>', 'only this split (e.g. train)')
    .addOption(new Option('--tensor <kind>', 'which features: pooled vector or feature map (default: what the head needs)').choices(['pooled', 'map']))
    .option('--batch <n>', 'images per forward pass (with --queue: per job)', '20')
    .option('--augment <k>', 'COVID images of the train split also get k-1 augmented copies, as `train --augment k` uses them (1 = none)', '1')
    .option('--seed <n>', 'augmentation seed (as `train --seed`)', '0')
    .option('--queue <url>', 'Redis URL (redis://HOST:PORT): `deep-covid worker --backbone` processes compute the features, this machine caches them');
  addRuntimeOptions(cmd).addHelpText('after', `
Examples:
  deep-covid features --data ../shared/data/covidx5k-dev --backbone squeezenet1_1
  deep-covid features --data my-set --backbone resnet18 --model ~/models/resnet18.onnx --split test
  deep-covid features --data my-set --augment 5 --queue redis://10.0.0.5:6379   (then: train --data my-set)
Many machines: docs/scaling.md.`);
  cmd.action(async (o: FeaturesOptions) => {
    const batchSize = positiveInt(o.batch, '--batch');
    const maxPixels = positiveInt(o.maxPixels, '--max-pixels');
    const ds = await readDataset(o.data);
    const items = o.split ? splitOf(ds, o.split) : ds.items;
    let factor = positiveInt(o.augment, '--augment');
    if (factor > 1 && items.some((i) => i.derivedFrom)) {
      // as train does: `dataset augment` already oversampled, so no copies are made on the fly
      process.stderr.write(`note: ${ds.root} holds materialised augmented copies, so --augment is ignored (train ignores it too)\n`);
      factor = 1;
    }
    const seed = wholeNumber(o.seed, '--seed', 0);
    // the paper's oversampling, as train does it: COVID training images get variants 1..factor-1
    const requests = items.flatMap((i) => Array.from({ length: i.label === 1 && i.split === 'train' ? factor : 1 }, (_, variant) => ({ file: i.file, variant })));
    const backbone = await loadBackbone(o.backbone, o, o.model);
    const tensor = o.tensor ?? (backbone.manifest.head.kind === 'squeezenet-conv' ? 'map' : 'pooled');
    const common = { tensor, batchSize, cache: featureCache(o), onProgress: progressOf(o) };
    let res: ExtractResult;
    try {
      res = o.queue
        ? await extractFeaturesOnQueue(o.queue, backbone, requests, { ...common, augment: factor > 1 ? { seed } : undefined, onStatus: (m) => process.stderr.write(`${m}\n`) })
        : await extractFeatures(backbone, requests, {
          ...common,
          augmenter: factor > 1 ? createAugmenter({}, seed) : undefined,
          collect: false,
          limits: { maxPixels },
          warn: (m) => process.stderr.write(`warning: ${m}\n`),
        });
    } finally {
      await backbone.release();
    }
    const s = res.stats;
    io.out(`${backbone.name} (${backbone.weights} weights, ${backbone.located.path}): ${tensor} features [${res.shape.join('x')}]`);
    io.out(`${s.total} images${factor > 1 ? ' and augmented copies' : ''}: ${s.computed} computed, ${s.fromCache} from cache, ${s.failed} failed, in ${s.seconds.toFixed(1)} s (${s.imagesPerSecond.toFixed(1)} images/s)`);
    for (const f of res.failures) io.out(`  skipped ${f.variant > 0 ? `(augmented copy ${f.variant}) ` : ''}${f.message}`);
    if (s.failed > 0 && s.failed === s.total) process.exitCode = 1;
  });
}
