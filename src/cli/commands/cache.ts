import type { Command } from 'commander';
import { cacheUsage, clearCache, type CacheModelUsage } from '../../features/cache.js';
import { featureCache, type RuntimeOptions } from '../common.js';
import { bytesText } from '../../util/bytes.js';

function modelLine(m: CacheModelUsage): string {
  const per = m.entries ? `, ${bytesText(m.bytes / m.entries)} per image` : '';
  return `  ${(m.name ?? '(unnamed model)').padEnd(16)} model ${m.id}  ${String(m.entries).padStart(7)} entries  ${bytesText(m.bytes).padStart(9)}${per}`;
}

/** `deep-covid cache [list]` and `deep-covid cache clear [--backbone NAME]`: where the feature cache is, how big, and emptying it. */
export function registerCache(program: Command, io: { out: (s: string) => void; err: (s: string) => void }): void {
  const cache = program.command('cache').description('where the feature cache is and how big it is per backbone; clear it');
  cache.command('list', { isDefault: true })
    .description('the feature cache folder and its size per backbone (the default)')
    .option('--cache <dir>', 'cache folder (default: $DEEP_COVID_CACHE or ~/.cache/deep-covid)')
    .addHelpText('after', `
Every command that runs a backbone keeps each image's features here, so later commands skip the
backbone. SqueezeNet keeps whole 512 x 13 x 13 feature maps (about 340 KiB per image and augmented
copy); the other backbones keep pooled vectors (2-8 KiB). One reproduce on the development set
leaves several hundred MiB. Deleting entries is always safe: they are recomputed when needed.
Examples:
  deep-covid cache
  deep-covid cache clear --backbone squeezenet1_1`)
    .action(async (o: RuntimeOptions) => {
      const dir = featureCache(o).dir;
      const u = await cacheUsage(dir);
      io.out(`feature cache: ${dir}`);
      if (!u.models.length && !u.older.entries) {
        io.out('  empty');
        return;
      }
      for (const m of u.models) io.out(modelLine(m));
      if (u.older.entries) io.out(`  ${'(older layout)'.padEnd(16)} no longer read    ${String(u.older.entries).padStart(7)} entries  ${bytesText(u.older.bytes).padStart(9)}`);
      io.out(`  total ${bytesText(u.bytes)}; free it with: deep-covid cache clear [--backbone NAME]`);
    });
  cache.command('clear')
    .description('delete cached features (all, or one backbone\'s); they are recomputed when needed')
    .option('--backbone <name>', 'only this backbone\'s entries (a name from "deep-covid cache", or the start of a model sha256)')
    .option('--cache <dir>', 'cache folder (default: $DEEP_COVID_CACHE or ~/.cache/deep-covid)')
    .action(async (o: RuntimeOptions & { backbone?: string }) => {
      const dir = featureCache(o).dir;
      const res = await clearCache(dir, o.backbone);
      if (o.backbone !== undefined && !res.removed.length) {
        const names = (await cacheUsage(dir)).models.map((m) => m.name ?? m.id);
        io.err(`nothing cached for "${o.backbone}" in ${dir}${names.length ? `; cached: ${[...new Set(names)].join(', ')}` : ' (the cache is empty)'}`);
        process.exitCode = 1;
        return;
      }
      const entries = res.removed.reduce((t, m) => t + m.entries, res.older.entries);
      io.out(`removed ${entries} entries (${bytesText(res.bytes)}) from ${dir}`);
    });
}
