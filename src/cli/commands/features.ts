import { Option, type Command } from 'commander';
import { readDataset, splitOf } from '../../dataset/read.js';
import { extractFeatures } from '../../features/extract.js';
import { addRuntimeOptions, featureCache, loadBackbone, positiveInt, type RuntimeOptions , progressOf } from '../common.js';

interface FeaturesOptions extends RuntimeOptions {
  data: string;
  backbone: string;
  model?: string;
  split?: string;
  tensor?: 'pooled' | 'map';
  batch: string;
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
    .option('--batch <n>', 'images per forward pass', '20');
  addRuntimeOptions(cmd).addHelpText('after', '\nExamples:\n  deep-covid features --data ../shared/data/covidx5k-dev --backbone squeezenet1_1\n  deep-covid features --data my-set --backbone resnet18 --model ~/models/resnet18.onnx --split test');
  cmd.action(async (o: FeaturesOptions) => {
    const batchSize = positiveInt(o.batch, '--batch');
    const maxPixels = positiveInt(o.maxPixels, '--max-pixels');
    const ds = await readDataset(o.data);
    const items = o.split ? splitOf(ds, o.split) : ds.items;
    const backbone = await loadBackbone(o.backbone, o, o.model);
    const tensor = o.tensor ?? (backbone.manifest.head.kind === 'squeezenet-conv' ? 'map' : 'pooled');
    let res;
    try {
      res = await extractFeatures(backbone, items.map((i) => ({ file: i.file })), {
        tensor,
        batchSize,
        cache: featureCache(o),
        collect: false,
        onProgress: progressOf(o),
        limits: { maxPixels },
        warn: (m) => process.stderr.write(`warning: ${m}\n`),
      });
    } finally {
      await backbone.release();
    }
    const s = res.stats;
    io.out(`${backbone.name} (${backbone.weights} weights, ${backbone.located.path}): ${tensor} features [${res.shape.join('x')}]`);
    io.out(`${s.total} images: ${s.computed} computed, ${s.fromCache} from cache, ${s.failed} failed, in ${s.seconds.toFixed(1)} s (${s.imagesPerSecond.toFixed(1)} images/s)`);
    for (const f of res.failures) io.out(`  skipped ${f.message}`);
    if (s.failed > 0 && s.failed === s.total) process.exitCode = 1;
  });
}
