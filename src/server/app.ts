/**
 * The fastify application: JSON API, web page and security headers around one loaded model.
 * Uploads live in memory only for the time of their request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { DEFAULT_SERVER_MAX_PIXELS } from '../input/load-image.js';
import type { ApiPrediction } from './api-types.js';
import { errorHandler, HttpError, uploadTooLarge } from './http-errors.js';
import { modelCard, type ServedLimits } from './model-card.js';
import type { Predictor } from './model-service.js';
import { openApiDocument } from './openapi.js';
import { InferenceQueue } from './queue.js';
import { addSecurityHeaders, hostChecker, sameOrigin } from './security.js';
import { loadWebAssets, registerWebRoutes } from './static-files.js';
import { UploadBuffers, type BodyLease } from './upload-buffers.js';

/** Default upload limit: 50 MiB (a large uncompressed DICOM radiograph is about 30 MiB). */
export const DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024;

/**
 * Default budget of upload bytes held at once by all admitted requests: two full-size uploads (one
 * being predicted, one waiting), 100 MiB of a served model's peak memory under a flood of
 * 50 MiB uploads (bench/serve.ts, BENCHMARKS.md); the budget bounds memory, the request queue
 * still admits many smaller uploads.
 */
export const DEFAULT_UPLOADS_IN_FLIGHT = 2;

/** Room for the multipart framing around a file of the largest size. */
const MULTIPART_SLACK = 64 * 1024;

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
  /** Uploads that may be received or wait for a slot beside the running ones (default 4); more get 503 + Retry-After. */
  maxQueued?: number;
  /**
   * Upload bytes all admitted requests may hold together (default DEFAULT_UPLOADS_IN_FLIGHT x maxUploadBytes); a request
   * whose declared size does not fit gets 503 + Retry-After before its body is read.
   */
  maxBytesInFlight?: number;
  /** The address the server will listen on: its name is accepted in the Host header. */
  host?: string;
  /**
   * Further Host names (or `name:port`) to accept besides localhost, 127.0.0.1, [::1] and `host`
   * (e.g. the machine's DNS name); `*` turns the DNS-rebinding check off (only behind a proxy).
   */
  allowedHosts?: readonly string[];
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

function flag(value: string | undefined, name: string): boolean {
  if (value === undefined || value === '' || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true') return true;
  throw new HttpError(400, 'bad-request', `query parameter ${name} must be 1 or 0, got "${value}"`);
}

/** The query parameters of /api/predict. */
const PREDICT_PARAMS = ['occlusion', 'name'] as const;

/** The predict route's query, each parameter at most once and no unknown ones (a typo is not silently ignored). */
function predictQuery(raw: unknown): Partial<Record<(typeof PREDICT_PARAMS)[number], string>> {
  const query = (raw ?? {}) as Record<string, unknown>;
  const out: Partial<Record<(typeof PREDICT_PARAMS)[number], string>> = {};
  for (const [k, v] of Object.entries(query)) {
    if (!(PREDICT_PARAMS as readonly string[]).includes(k)) {
      throw new HttpError(400, 'bad-request', `unknown query parameter "${k.slice(0, 40)}": /api/predict takes ${PREDICT_PARAMS.join(' and ')}`);
    }
    if (typeof v !== 'string') throw new HttpError(400, 'bad-request', `query parameter ${k} is given more than once: give it once`);
    out[k as (typeof PREDICT_PARAMS)[number]] = v;
  }
  return out;
}

/** Bytes a request says it will send (Content-Length), or null when it does not say (chunked). */
function declaredLength(request: FastifyRequest): number | null {
  const v = request.headers['content-length'];
  if (v === undefined) return null;
  if (!/^\d+$/.test(v)) throw new HttpError(400, 'bad-request', `Content-Length "${v.slice(0, 40)}" is not a number of bytes`);
  return Number(v);
}

/** Builds the app (not listening yet: call `listen`, or use `inject` in tests). */
export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const maxUploadBytes = opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const maxPixels = opts.maxPixels ?? DEFAULT_SERVER_MAX_PIXELS;
  const queue = new InferenceQueue({
    concurrency: opts.concurrency ?? 1,
    maxQueued: opts.maxQueued ?? 4,
    maxBytes: opts.maxBytesInFlight ?? DEFAULT_UPLOADS_IN_FLIGHT * maxUploadBytes,
  });
  // bodies are received into reused shared buffers: no new external memory per upload (see upload-buffers.ts)
  const bodies = new UploadBuffers(Number.isFinite(queue.maxBytes) ? queue.maxBytes : DEFAULT_UPLOADS_IN_FLIGHT * maxUploadBytes, maxUploadBytes);
  /** The body buffer each request holds, given back when its handler is done with the upload. */
  const leases = new WeakMap<FastifyRequest, BodyLease>();
  const leaseFor = (request: FastifyRequest, size: number): Buffer => {
    const lease = bodies.lease(size);
    leases.set(request, lease);
    return lease.bytes;
  };
  const limits: ServedLimits = { maxUploadBytes, maxPixels, concurrency: queue.concurrency, maxQueued: queue.maxQueued };
  const hostAllowed = hostChecker({ bindHost: opts.host, allowedHosts: opts.allowedHosts });
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

  // every route's methods, so a known path with another method is a 405 with Allow, not a 404
  const methodsOf = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    const set = methodsOf.get(route.url) ?? methodsOf.set(route.url, new Set()).get(route.url)!;
    for (const m of [route.method].flat()) set.add(m);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const allowed = methodsOf.get(path);
    if (allowed) {
      const list = [...allowed].sort().join(', ');
      return reply.code(405).header('allow', list).send({ error: { code: 'method-not-allowed', message: `${request.method} is not allowed on ${path}: use ${list}` } });
    }
    return reply.code(404).send({ error: { code: 'not-found', message: `${request.method} ${path} does not exist: see /api/openapi.json` } });
  });

  // DNS rebinding and cross-site requests are refused before anything else happens
  app.addHook('onRequest', async (request) => {
    if (!hostAllowed(request.headers.host)) {
      throw new HttpError(403, 'host-not-allowed', `this server does not answer to the host name "${String(request.headers.host).slice(0, 100)}" (a page on another site may be trying to reach it): open it as http://localhost or http://127.0.0.1, or add the name to the server's allowed hosts`);
    }
    if (request.method !== 'GET' && request.method !== 'HEAD' && !sameOrigin(request.headers)) {
      throw new HttpError(403, 'cross-origin', `${request.method} requests from another site are refused (Origin "${String(request.headers.origin ?? '').slice(0, 100)}"): use the page this server serves, or a client that sends no Origin header`);
    }
  });
  // "Expect: 100-continue" is answered only once the request is admitted (see checkContinue below)
  app.addHook('preParsing', async (request, reply) => {
    if (/100-continue/i.test(request.headers.expect ?? '') && !reply.raw.headersSent) reply.raw.writeContinue();
  });
  // Node answers 100 Continue by itself unless someone listens: listen, and leave it to preParsing
  app.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => app.server.emit('request', req, res));

  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/api/') || request.url.startsWith('/healthz')) reply.header('cache-control', 'no-store');
  });

  const card = modelCard(model.card, limits);
  const openapi = openApiDocument(opts.version ?? '0.1.0');
  app.get('/healthz', async () => ({ status: 'ok', runId: model.runId, running: queue.running, waiting: queue.waiting, bytesInFlight: queue.bytesInFlight }));
  app.get('/api/model', async () => card);
  app.get('/api/openapi.json', async () => openapi);

  const admissions = new WeakMap<FastifyRequest, () => void>();
  await app.register(async (scope) => {
    // in this scope: multipart uploads, or the raw body of any other content type (format is sniffed from bytes)
    scope.removeAllContentTypeParsers();
    await scope.register(multipart, { limits: { fileSize: maxUploadBytes, files: 1, fields: 4, parts: 5, headerPairs: 200 } });
    scope.addContentTypeParser('*', async (request: FastifyRequest, payload: IncomingMessage) => {
      try {
        return await readBody(payload, declaredLength(request), maxUploadBytes, (n) => leaseFor(request, n));
      } catch (err) {
        // the handler will not run: nothing else will read the buffer
        leases.get(request)?.release();
        throw err;
      }
    });
    scope.post('/api/predict', {
      // admitted or refused from the headers alone, before a byte of the body is read
      onRequest: async (request, reply) => {
        predictQuery(request.query);
        const declared = declaredLength(request);
        if (declared !== null && declared > maxUploadBytes + MULTIPART_SLACK) {
          throw uploadTooLarge(maxUploadBytes);
        }
        // a body of unknown length may grow to the upload limit
        const admission = queue.admit(declared ?? maxUploadBytes + MULTIPART_SLACK);
        // held until the answer is sent or the client is gone, and by the handler while it has the upload
        reply.raw.once('close', () => admission.release());
        admissions.set(request, () => admission.hold());
      },
    }, async (request, reply) => {
      const letGo = admissions.get(request)?.() ?? (() => {});
      try {
        const t0 = performance.now();
        const query = predictQuery(request.query);
        const occlusion = flag(query.occlusion, 'occlusion');
        const upload = await readUpload(request, query.name, maxUploadBytes, (n) => leaseFor(request, n));
        const tQueued = performance.now();
        const result = await queue.runAdmitted(async () => {
          const tStart = performance.now();
          const r = await model.predict({ bytes: upload.bytes, name: upload.name, occlusion, maxPixels });
          return { r, waited: tStart - tQueued };
        });
        const body: ApiPrediction = { ...result.r, timings: { queuedMs: Math.round(result.waited * 10) / 10, ...result.r.timings } };
        reply.header('server-timing', `total;dur=${(performance.now() - t0).toFixed(1)}`);
        return body;
      } finally {
        // nothing reads the upload any more (the model has finished with it, or failed)
        leases.get(request)?.release();
        letGo();
      }
    });
  });

  const web = opts.webRoot ? await loadWebAssets(opts.webRoot) : new Map();
  registerWebRoutes(app, web, opts.webRoot ?? null);
  return app;
}

/** Gives a buffer of exactly `n` bytes for a body (reused memory for large ones). */
type BodyBuffer = (n: number) => Buffer;

/**
 * Reads a body stream into one buffer of the size announced beforehand (`declared`, or at most
 * `limit` when unannounced: then collected and copied once), so a large upload is held once and
 * never concatenated. With `exact`, the body must have exactly `declared` bytes.
 */
async function receive(stream: AsyncIterable<Buffer>, declared: number | null, limit: number, buffer: BodyBuffer, exact: boolean): Promise<Buffer> {
  if (declared !== null) {
    if (declared > limit) throw uploadTooLarge(limit);
    const out = buffer(declared);
    let at = 0;
    for await (const chunk of stream) {
      if (at + chunk.length > declared) {
        if (exact) throw new HttpError(400, 'bad-request', `the body is longer than the ${declared} bytes its Content-Length announced`);
        throw uploadTooLarge(limit);
      }
      chunk.copy(out, at);
      at += chunk.length;
    }
    if (exact && at !== declared) throw new HttpError(400, 'bad-request', `the body ended after ${at} of the ${declared} bytes its Content-Length announced`);
    return at === declared ? out : out.subarray(0, at);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of stream) {
    n += chunk.length;
    if (n > limit) throw uploadTooLarge(limit);
    chunks.push(chunk);
  }
  const out = buffer(n);
  let at = 0;
  for (const c of chunks) at += c.copy(out, at);
  return out;
}

/** A raw request body of its announced Content-Length (or, chunked, up to the limit). */
function readBody(stream: AsyncIterable<Buffer>, declared: number | null, limit: number, buffer: BodyBuffer): Promise<Buffer> {
  return receive(stream, declared, limit, buffer, true);
}

/** The uploaded bytes and a display name, from a multipart file field or the raw body. */
async function readUpload(request: FastifyRequest, queryName: string | undefined, maxUploadBytes: number, buffer: BodyBuffer): Promise<{ bytes: Buffer; name: string }> {
  if (request.isMultipart()) return readMultipart(request, queryName, maxUploadBytes, buffer);
  const body = request.body;
  if (body === undefined || body === null) return { bytes: Buffer.alloc(0), name: safeName(queryName) };
  if (!Buffer.isBuffer(body)) throw new HttpError(400, 'bad-request', 'Send the image as multipart/form-data (field "file") or as the raw request body.');
  return { bytes: body, name: safeName(queryName) };
}

/**
 * Reads the whole multipart body: exactly one file part (other fields are ignored), a boundary,
 * and a proper end. A second file is refused (by the parser's file limit) rather than dropped.
 */
async function readMultipart(request: FastifyRequest, queryName: string | undefined, maxUploadBytes: number, buffer: BodyBuffer): Promise<{ bytes: Buffer; name: string }> {
  if (!/;\s*boundary=("[^"]+"|[^;\s]+)/i.test(request.headers['content-type'] ?? '')) {
    throw new HttpError(400, 'bad-multipart', 'The multipart request has no boundary in its Content-Type header: let the HTTP client build the multipart body (e.g. FormData, curl -F), or send the image as the raw body.');
  }
  let upload: { bytes: Buffer; name: string } | null = null;
  try {
    for await (const part of request.parts()) {
      if (part.type !== 'file') continue;
      // the file is smaller than the whole body: a buffer of the body's announced size holds it
      const declared = declaredLength(request);
      const bytes = await receive(part.file, declared === null ? null : Math.min(declared, maxUploadBytes), maxUploadBytes, buffer, false);
      // the parser stops a file at the upload limit and marks it truncated
      if (part.file.truncated) throw uploadTooLarge(maxUploadBytes);
      upload = { bytes, name: safeName(part.filename || queryName) };
    }
  } catch (err) {
    if (err instanceof HttpError || (err as { code?: string }).code?.startsWith('FST_')) throw err;
    // the parser's own complaints (no end boundary, malformed part headers) are the client's fault
    const why = err instanceof Error ? err.message : String(err);
    throw new HttpError(400, 'bad-multipart', `The multipart body could not be read (${why}): it may have been cut off or built by hand; send it again with a standard HTTP client.`);
  }
  if (!upload) throw new HttpError(400, 'no-file', 'The multipart request has no file: send the X-ray in a file field named "file".');
  return upload;
}
