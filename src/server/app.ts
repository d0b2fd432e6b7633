/**
 * The fastify application: JSON API, web page and security headers around one loaded model.
 * Uploads live in memory only for the time of their request.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { DEFAULT_SERVER_MAX_PIXELS } from '../input/load-image.js';
import type { ApiPrediction } from './api-types.js';
import { errorHandler, HttpError } from './http-errors.js';
import { modelCard, type ServedLimits } from './model-card.js';
import type { Predictor } from './model-service.js';
import { openApiDocument } from './openapi.js';
import { BusyError, InferenceQueue } from './queue.js';
import { addSecurityHeaders } from './security.js';
import { loadWebAssets, registerWebRoutes } from './static-files.js';

/** Default upload limit: 50 MiB (a large uncompressed DICOM radiograph is about 30 MiB). */
export const DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024;

/** Settings of the server. */
export interface ServerOptions {
  /** The loaded model (see loadModelService). The server does not close it. */
  model: Predictor;
  /** Largest upload in bytes (default 50 MiB). */
  maxUploadBytes?: number;
  /** Largest image in pixels, checked before decoding (default DEFAULT_SERVER_MAX_PIXELS, 25 megapixels). */
  maxPixels?: number;
  /** Inferences at once (default 1: one inference already uses every core). */
  concurrency?: number;
  /** Uploads that may wait for a slot (default 4); more get 503 + Retry-After. */
  maxQueued?: number;
  /** Folder with the bundled page (index.html, app.js, style.css); null = API only. */
  webRoot?: string | null;
  /** Fastify's logger (default off). */
  logger?: boolean;
  /** Version shown in the OpenAPI document. */
  version?: string;
}

/** A display name from a client: no directories, no control characters, bounded length. */
export function safeName(raw: string | undefined): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? '';
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 120);
  return clean || 'upload';
}

function flag(value: unknown, name: string): boolean {
  if (value === undefined || value === '' || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true') return true;
  throw new HttpError(400, 'bad-request', `query parameter ${name} must be 1 or 0, got "${String(value)}"`);
}

/** Builds the app (not listening yet: call `listen`, or use `inject` in tests). */
export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const maxUploadBytes = opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const maxPixels = opts.maxPixels ?? DEFAULT_SERVER_MAX_PIXELS;
  const queue = new InferenceQueue({ concurrency: opts.concurrency ?? 1, maxQueued: opts.maxQueued ?? 4 });
  const limits: ServedLimits = { maxUploadBytes, maxPixels, concurrency: queue.concurrency, maxQueued: queue.maxQueued };
  const model = opts.model;
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: maxUploadBytes,
    // slow or stalled uploads must not hold sockets forever
    requestTimeout: 120_000,
    connectionTimeout: 130_000,
    return503OnClosing: true,
  });
  addSecurityHeaders(app);
  app.setErrorHandler(errorHandler({ maxUploadBytes }));
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: { code: 'not-found', message: `${request.method} ${request.url.split('?')[0]} does not exist: see /api/openapi.json` } });
  });
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/api/') || request.url.startsWith('/healthz')) reply.header('cache-control', 'no-store');
  });

  const card = modelCard(model.run, limits);
  const openapi = openApiDocument(opts.version ?? '0.1.0');
  app.get('/healthz', async () => ({ status: 'ok', runId: model.run.record.id, running: queue.running, waiting: queue.waiting }));
  app.get('/api/model', async () => card);
  app.get('/api/openapi.json', async () => openapi);

  await app.register(async (scope) => {
    // in this scope: multipart uploads, or the raw body of any other content type (format is sniffed from bytes)
    scope.removeAllContentTypeParsers();
    await scope.register(multipart, { limits: { fileSize: maxUploadBytes, files: 1, fields: 4, parts: 5, headerPairs: 200 } });
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxUploadBytes }, (_req, body, done) => done(null, body));
    scope.post('/api/predict', {
      // refuse before the upload is read when no slot could take it anyway
      onRequest: async () => {
        if (queue.full) throw new BusyError(queue.retryAfterSeconds());
      },
    }, async (request, reply) => {
      const t0 = performance.now();
      const query = request.query as Record<string, string | undefined>;
      const occlusion = flag(query.occlusion, 'occlusion');
      const upload = await readUpload(request, query.name);
      const tQueued = performance.now();
      const result = await queue.run(async () => {
        const tStart = performance.now();
        const r = await model.predict({ bytes: upload.bytes, name: upload.name, occlusion, maxPixels });
        return { r, waited: tStart - tQueued };
      });
      const body: ApiPrediction = { ...result.r, timings: { queuedMs: Math.round(result.waited * 10) / 10, ...result.r.timings } };
      reply.header('server-timing', `total;dur=${(performance.now() - t0).toFixed(1)}`);
      return body;
    });
  });

  const web = opts.webRoot ? await loadWebAssets(opts.webRoot) : new Map();
  registerWebRoutes(app, web, opts.webRoot ?? null);
  return app;
}

/** The uploaded bytes and a display name, from a multipart file field or the raw body. */
async function readUpload(request: FastifyRequest, queryName: string | undefined): Promise<{ bytes: Buffer; name: string }> {
  if (request.isMultipart()) {
    const part = await request.file();
    if (!part) throw new HttpError(400, 'no-file', 'The multipart request has no file: send the X-ray in a file field named "file".');
    const bytes = await part.toBuffer();
    return { bytes, name: safeName(part.filename || queryName) };
  }
  const body = request.body;
  if (body === undefined || body === null) return { bytes: Buffer.alloc(0), name: safeName(queryName) };
  if (!Buffer.isBuffer(body)) throw new HttpError(400, 'bad-request', 'Send the image as multipart/form-data (field "file") or as the raw request body.');
  return { bytes: body, name: safeName(queryName) };
}
