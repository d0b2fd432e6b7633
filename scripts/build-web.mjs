#!/usr/bin/env node
// Bundles the web page (src/web: TypeScript, CSS, HTML) with esbuild into one folder the server
// serves: index.html, app.js, style.css, favicon.svg, and client/ (the page that runs the model in the
// browser, for export-web). Usage: node scripts/build-web.mjs [out-dir]
// (default dist/web). No network, no CDN: everything the page needs ends up in that folder.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src', 'web');

/**
 * The client page bundles the same modules Node runs (preprocessing, the gate, the DICOM reader).
 * A module that needs Node has a browser twin beside it: an import of `X.js` from src/ resolves to
 * `X.browser.ts` when that file exists (src/input/dicom/runtime.browser.ts). The Emscripten codecs'
 * own `require("fs")` sits on a Node-only branch: left external, never reached in a page.
 */
const browserTwins = {
  name: 'browser-twins',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\/.*\.js$/ }, (args) => {
      if (!args.importer.startsWith(join(root, 'src'))) return undefined;
      const twin = join(dirname(args.importer), args.path.replace(/\.js$/, '.browser.ts'));
      return existsSync(twin) ? { path: twin } : undefined;
    });
  },
};

/** Bundles one page's script for the browsers the pages support. */
function bundlePage(entry, outfile, extra = {}) {
  return build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome109', 'firefox115', 'safari16'],
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    ...extra,
  });
}

/** Builds the page into `outDir` and returns the folder. */
export async function buildWeb(outDir = join(root, 'dist', 'web')) {
  const out = resolve(outDir);
  await mkdir(out, { recursive: true });
  await bundlePage(join(src, 'main.ts'), join(out, 'app.js'));
  await build({ entryPoints: [join(src, 'style.css')], outfile: join(out, 'style.css'), bundle: true, minify: true, logLevel: 'warning' });
  for (const f of ['index.html', 'favicon.svg']) await copyFile(join(src, f), join(out, f));
  // the client-side page (export-web, serve --client-side): the same style, its own entry and HTML
  const client = join(out, 'client');
  await mkdir(client, { recursive: true });
  // browserTwins swaps Node-only modules for their X.browser.ts twins
  const result = await bundlePage(join(src, 'client.ts'), join(client, 'client.js'), { plugins: [browserTwins], external: ['fs', 'path'], metafile: true });
  // which source files the page runs (test/web.client-side checks they are Node's own modules)
  const inputs = Object.keys(result.metafile.inputs).filter((f) => f.startsWith('src/')).sort();
  await writeFile(join(out, 'client-modules.json'), JSON.stringify(inputs, null, 1) + '\n');
  await copyFile(join(src, 'client.html'), join(client, 'index.html'));
  for (const f of ['style.css', 'favicon.svg']) await copyFile(join(out, f), join(client, f));
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const out = await buildWeb(process.argv[2]);
  console.log(`web page built into ${out}`);
}
