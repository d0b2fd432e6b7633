// Replaces one marked section of BENCHMARKS.md (<!-- bench:NAME --> … <!-- /bench:NAME -->), appending it if absent.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../src/util/atomic-write.js';
import { PROJECT_ROOT } from '../src/util/paths.js';

/** Writes `body` between the markers of section `name` in BENCHMARKS.md. */
export async function writeBenchSection(name: string, title: string, body: string): Promise<void> {
  const file = join(PROJECT_ROOT, 'BENCHMARKS.md');
  const text = await readFile(file, 'utf8').catch(() => '# Benchmarks\n');
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const block = `${open}\n${body.trim()}\n${close}`;
  const i = text.indexOf(open);
  const j = text.indexOf(close);
  const next = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + close.length) : `${text.trimEnd()}\n\n## ${title}\n\n${block}\n`;
  await writeFileAtomic(file, next);
}
