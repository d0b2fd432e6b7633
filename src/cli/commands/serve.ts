import { join } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { buildServer, DEFAULT_UPLOADS_IN_FLIGHT } from '../../server/app.js';
import { loadModelService } from '../../server/model-service.js';
import { parseHost } from '../../server/security.js';
import { PROJECT_ROOT } from '../../util/paths.js';
import { addRuntimeOptions, backboneOptions, positiveInt, wholeNumber, type RuntimeOptions } from '../common.js';
import { mibToBytes } from '../../util/bytes.js';
import { DEFAULT_SERVER_MAX_PIXELS } from '../../input/load-image.js';

interface ServeCliOptions extends RuntimeOptions {
  run: string;
  port: string;
  host: string;
  maxUploadMb: string;
  concurrency: string;
  queue: string;
  maxBufferedMb?: string;
  allowedHost?: string[];
  web?: string;
  model?: string;
  log?: boolean;
  clientSide?: boolean;
}

/** Where `npm run build` puts the bundled page. */
export const DEFAULT_WEB_ROOT = join(PROJECT_ROOT, 'dist', 'web');

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * Loads the run, starts the server and resolves when `signal` aborts (after closing it).
 * `onListening` gets the URL (with the real port when --port 0 was asked for).
 */
export async function serveRun(o: ServeCliOptions, io: { out: (s: string) => void; err: (s: string) => void }, signal: AbortSignal, onListening?: (url: string) => void): Promise<void> {
  const port = wholeNumber(o.port, '--port');
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  if (o.clientSide) {
    const { serveClientSide } = await import('./export-web.js');
    return serveClientSide({ run: o.run, model: o.model, web: o.web, host: o.host, port }, io, signal, onListening);
  }
  const mbLimit = Number(o.maxUploadMb);
  if (!Number.isFinite(mbLimit) || mbLimit <= 0) throw new UsageError(`--max-upload-mb must be a positive number, got "${o.maxUploadMb}"`);
  let maxBytesInFlight: number | undefined;
  if (o.maxBufferedMb !== undefined) {
    const v = Number(o.maxBufferedMb);
    if (!Number.isFinite(v) || v <= 0) throw new UsageError(`--max-buffered-mb must be a positive number, got "${o.maxBufferedMb}"`);
    maxBytesInFlight = mibToBytes(v);
  }
  const allowedHosts = o.allowedHost ?? [];
  for (const h of allowedHosts) if (h !== '*' && !parseHost(h)) throw new UsageError(`--allowed-host "${h}" is not a host name or address (with an optional :port)`);
  const model = await loadModelService(o.run, { runtime: backboneOptions(o), modelPath: o.model });
  const app = await buildServer({
    model,
    host: o.host,
    allowedHosts,
    maxBytesInFlight,
    maxUploadBytes: mibToBytes(mbLimit),
    maxPixels: positiveInt(o.maxPixels, '--max-pixels', DEFAULT_SERVER_MAX_PIXELS),
    concurrency: positiveInt(o.concurrency, '--concurrency'),
    maxQueued: wholeNumber(o.queue, '--queue'),
    webRoot: o.web ?? DEFAULT_WEB_ROOT,
    logger: !!o.log,
  });
  try {
    await app.listen({ port, host: o.host });
  } catch (err) {
    await model.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UsageError(`port ${port} on ${o.host} is already in use: pick another with --port`);
    throw err;
  }
  const addr = app.server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  const hostPart = o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `http://${hostPart}:${actual}/`;
  const ref = model.modelRef;
  io.out(`deep-covid serving ${model.card.ensemble ? 'ensemble' : 'run'} ${ref.runId} (${ref.backbone}, ${ref.weights} weights) at ${url}`);
  if (ref.weights === 'synthetic') io.err(`warning: this ${model.card.ensemble ? 'ensemble uses a backbone' : 'run uses a backbone'} with SYNTHETIC weights: its predictions mean nothing`);
  if (!LOOPBACK.has(o.host)) io.err(`warning: listening on ${o.host}, not only on this computer: anyone who can reach it can upload images. There is no login. Clients must use an IP address or a name given with --allowed-host.`);
  io.err('Research software, not a diagnostic device. Uploads stay in memory and are dropped after each answer. Ctrl-C stops the server.');
  onListening?.(url);
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await app.close();
  await model.close();
}

/** Commander helper: a repeatable option gathers every value. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((v) => v.trim()).filter(Boolean)];
}

/** Registers `serve`. */
export function registerServe(program: Command, io: { out: (s: string) => void; err: (s: string) => void }): void {
  const serve = program.command('serve').description('web page and HTTP API for a trained run: upload X-rays, get P(COVID), the label at the run\'s threshold and heatmaps')
    .requiredOption('--run <dir>', 'run folder written by train, or an ensemble folder written by ensemble')
    .option('--port <n>', 'TCP port (0 = any free port)', '8080')
    .option('--host <addr>', 'address to listen on; the default serves this computer only', '127.0.0.1')
    .option('--max-upload-mb <n>', 'largest upload in MiB (1 MiB = 1,048,576 bytes)', '50')
    .option('--concurrency <n>', 'inferences at once', '1')
    .option('--queue <n>', 'uploads that may be received or wait beside the running ones; more get "503 busy" with Retry-After before their body is read', '4')
    .option('--max-buffered-mb <n>', `upload MiB all admitted requests (receiving, waiting or running) may hold together (default: ${DEFAULT_UPLOADS_IN_FLIGHT} x --max-upload-mb); more get "503 busy" before their body is read`)
    .option('--allowed-host <name>', 'a further host name the server answers to, repeatable or comma-separated (besides localhost, 127.0.0.1, [::1] and --host), e.g. this machine\'s DNS name; "*" turns the check off (only behind a proxy that checks Host)', collect)
    .option('--web <dir>', 'folder with the bundled page (default: dist/web, made by npm run build)')
    .option('--model <file>', 'the backbone ONNX file, if it moved since training')
    .option('--log', 'log every request (JSON lines on stdout)')
    .option('--client-side', 'serve the export-web page instead: the model runs in the browser and no image reaches the server (no API)');
  addRuntimeOptions(serve, { maxPixels: DEFAULT_SERVER_MAX_PIXELS }).addHelpText('after', `
API: POST /api/predict (multipart field "file" or raw body; ?occlusion=1 adds an occlusion map),
     GET /api/model, GET /api/openapi.json, GET /healthz. Nothing uploaded is stored.
Examples:
  deep-covid serve --run runs/squeezenet
  deep-covid serve --run runs/squeezenet --port 9000 --max-upload-mb 20
  deep-covid serve --run runs/squeezenet --client-side`);
  serve.action(async (o: ServeCliOptions) => {
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await serveRun(o, io, stop.signal);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
}
