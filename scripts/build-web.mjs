#!/usr/bin/env node
// Bundles the web page (src/web: TypeScript, CSS, HTML) with esbuild into one folder the server
// serves: index.html, app.js, style.css, favicon.svg. Usage: node scripts/build-web.mjs [out-dir]
// (default dist/web). No network, no CDN: everything the page needs ends up in that folder.
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src', 'web');

/** Builds the page into `outDir` and returns the folder. */
export async function buildWeb(outDir = join(root, 'dist', 'web')) {
  const out = resolve(outDir);
  await mkdir(out, { recursive: true });
  await build({
    entryPoints: [join(src, 'main.ts')],
    outfile: join(out, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome109', 'firefox115', 'safari16'],
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
  });
  await build({ entryPoints: [join(src, 'style.css')], outfile: join(out, 'style.css'), bundle: true, minify: true, logLevel: 'warning' });
  for (const f of ['index.html', 'favicon.svg']) await copyFile(join(src, f), join(out, f));
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const out = await buildWeb(process.argv[2]);
  console.log(`web page built into ${out}`);
}
