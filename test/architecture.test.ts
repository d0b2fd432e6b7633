// The layout is the data flow: each layer of src/ imports only from the layers before it (and from
// util/ and errors.ts, which every layer may use). ARCHITECTURE.md explains the order.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from './helpers/shared.js';

/** Layers in data-flow order; folders on one line are peers that do not import each other. */
export const LAYERS: string[][] = [
  ['input'], ['preprocess'], ['backbone'], ['features'], ['augment'], ['dataset'], ['gate'], ['head'], ['evaluate'],
  ['protocol'], ['explain'], ['model'], ['tasks'], ['report'], ['screen'], ['server', 'pacs'], ['web'], ['cli'],
];
const BASE = new Set(['util', 'errors.ts']);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : n.endsWith('.ts') ? [p] : [];
  });
}

test('no module imports from a later layer or a peer layer', () => {
  const src = join(projectRoot, 'src');
  const rank = new Map<string, number>();
  LAYERS.forEach((peers, i) => peers.forEach((l) => rank.set(l, i)));
  const layerOf = (file: string) => relative(src, file).split(/[\\/]/)[0];
  const problems: string[] = [];
  for (const file of files(src)) {
    const from = layerOf(file);
    if (BASE.has(from) || from === 'index.ts') continue;
    assert.ok(rank.has(from), `${relative(projectRoot, file)}: folder src/${from} is not in the layer list (add it to LAYERS and ARCHITECTURE.md)`);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
      const target = layerOf(resolve(dirname(file), m[1] ?? m[2]));
      if (BASE.has(target) || target === from) continue;
      if (!rank.has(target)) continue;
      if (rank.get(target)! >= rank.get(from)!) problems.push(`${relative(projectRoot, file)} (${from}) imports ${m[1] ?? m[2]} (${target})`);
    }
  }
  assert.deepEqual(problems, [], `imports against the data flow:\n${problems.join('\n')}`);
});
