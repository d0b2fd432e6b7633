import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { exportWeb } from '../../server/export-web.js';
import { startStaticSite } from '../../server/static-site.js';
import { bytesText } from '../../util/bytes.js';
import { DEFAULT_WEB_ROOT } from './serve.js';

type Io = { out: (s: string) => void; err: (s: string) => void };

/** Where `npm run build` puts the client-side page. */
const DEFAULT_CLIENT_ROOT = join(DEFAULT_WEB_ROOT, 'client');

/**
 * serve --client-side: exports the run into a temporary folder, serves it (cross-origin isolated,
 * GET only) until `signal` aborts, then removes the folder.
 */
export async function serveClientSide(o: { run: string; model?: string; web?: string; host: string; port: number }, io: Io, signal: AbortSignal, onListening?: (url: string) => void): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'deep-covid-site-'));
  try {
    const site = await exportWeb({ run: o.run, out: join(work, 'site'), pageRoot: o.web ? join(o.web, 'client') : DEFAULT_CLIENT_ROOT, modelPath: o.model });
    let started;
    try {
      started = await startStaticSite(site.out, o.host, o.port);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new UsageError(`port ${o.port} on ${o.host} is already in use: pick another with --port`);
      throw err;
    }
    const hostPart = o.host.includes(':') ? `[${o.host}]` : o.host;
    const url = `http://${hostPart}:${started.port}/`;
    io.out(`deep-covid serving run ${site.config.runId} (${site.config.backbone.name}) client-side at ${url}: the model runs in the browser and images never reach this server`);
    if (site.config.backbone.weights === 'synthetic') io.err('warning: this run uses a backbone with SYNTHETIC weights: its predictions mean nothing');
    io.err('Research software, not a diagnostic device. Ctrl-C stops the server.');
    onListening?.(url);
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await new Promise<void>((resolve) => started.server.close(() => resolve()));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Registers `export-web`. */
export function registerExportWeb(program: Command, io: Io): void {
  program.command('export-web').description('a static folder that runs a trained run entirely in the browser (no image leaves the machine)')
    .requiredOption('--run <dir>', 'run folder written by train')
    .requiredOption('--out <dir>', 'folder to write (new, empty, or an earlier export, which is replaced)')
    .option('--model <file>', 'the backbone ONNX file, if it moved since training')
    .option('--web <dir>', 'folder with the bundled pages (default: dist/web, made by npm run build)')
    .option('--no-gate', 'switch the input gate off in the page (researchers only): nothing is refused, every result is stamped')
    .addHelpText('after', `
The folder holds the page, the backbone ONNX (with its feature tensors exposed), head.json, gate.json
(the input gate's statistics), site.json (threshold, preprocessing, model card), onnxruntime-web's WASM
files and the DICOM codecs' WASM files. Any static web server can
host it; for WASM threads serve it with Cross-Origin-Opener-Policy: same-origin and
Cross-Origin-Embedder-Policy: require-corp (deep-covid serve --client-side does).
Example:
  deep-covid export-web --run runs/squeezenet --out site/ && python3 -m http.server -d site 8000`)
    .action(async (o: { run: string; out: string; model?: string; web?: string; gate: boolean }) => {
      const res = await exportWeb({ run: o.run, out: o.out, pageRoot: o.web ? join(o.web, 'client') : DEFAULT_CLIENT_ROOT, modelPath: o.model, gate: o.gate });
      if (!o.gate) io.err('warning: the input gate is switched off in this export: the page refuses nothing and stamps every result');
      io.out(`wrote ${res.files.length} files (${bytesText(res.bytes)}) into ${res.out}: run ${res.config.runId}, ${res.config.backbone.name}, threshold ${res.config.threshold.toFixed(4)}`);
      io.out('Serve the folder with any static web server (loopback is enough); the page runs the model in the browser. Research software, not a diagnostic device.');
    });
}
