/**
 * Every failure as JSON `{error: {code, message}}` with a status a client can act on:
 * 415 not an image / unsupported, 413 too large (bytes or pixels), 422 empty / truncated / corrupt /
 * too small, 400 bad request, 503 busy (with Retry-After), 500 for our own bugs only.
 */
import { STATUS_CODES } from 'node:http';
import { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { InputError, type InputProblem } from '../errors.js';
import { bytesText } from '../util/bytes.js';
import type { ApiError } from './api-types.js';
import { BusyError } from './queue.js';

/** An error with an HTTP status and a stable code. */
export class HttpError extends Error {
  constructor(readonly statusCode: number, readonly code: string, message: string) {
    super(message);
    this.name = 'HttpError';
  }
}

const FORMATS = 'Upload a chest X-ray as PNG, JPEG, TIFF, WebP or DICOM.';

const INPUT_STATUS: Record<InputProblem, { status: number; code: string; hint: string }> = {
  'not-an-image': { status: 415, code: 'not-an-image', hint: FORMATS },
  unsupported: { status: 415, code: 'unsupported-format', hint: 'Convert it to an 8- or 16-bit greyscale PNG or a single-frame greyscale DICOM.' },
  'too-large': { status: 413, code: 'too-many-pixels', hint: 'Downscale the image (the model only sees 224 x 224 pixels) and upload it again.' },
  empty: { status: 422, code: 'empty', hint: 'The file has no content: export it again.' },
  truncated: { status: 422, code: 'truncated', hint: 'The file ends early (an interrupted copy or download?): export or copy it again.' },
  corrupt: { status: 422, code: 'corrupt', hint: 'The file could not be decoded: export it again or convert it to PNG.' },
  'too-small': { status: 422, code: 'too-small', hint: 'Upload the full-resolution radiograph.' },
  unreadable: { status: 400, code: 'unreadable', hint: FORMATS },
};

/** The status and code of an InputError. */
export function inputErrorStatus(problem: InputProblem): { status: number; code: string } {
  const e = INPUT_STATUS[problem];
  return { status: e.status, code: e.code };
}

/** The 413 of an upload over the byte limit (found from Content-Length or while reading). */
export function uploadTooLarge(maxUploadBytes: number): HttpError {
  return new HttpError(413, 'upload-too-large', `The upload is larger than this server's limit of ${bytesText(maxUploadBytes)}. Downscale or compress the image (the model only sees 224 x 224 pixels).`);
}

/** Builds the error body and status of any error; logs those that are our fault. */
export function describeError(err: unknown, ctx: { maxUploadBytes: number }): { status: number; body: ApiError; retryAfter?: number } {
  const body = (code: string, message: string): ApiError => ({ error: { code, message } });
  if (err instanceof HttpError) return { status: err.statusCode, body: body(err.code, err.message) };
  if (err instanceof BusyError) return { status: 503, body: body('busy', `${err.message}.`), retryAfter: err.retryAfterSeconds };
  if (err instanceof InputError) {
    const e = INPUT_STATUS[err.problem];
    return { status: e.status, body: body(e.code, `${err.message}. ${e.hint}`) };
  }
  const fe = err as FastifyError;
  switch (fe?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE': {
      const e = uploadTooLarge(ctx.maxUploadBytes);
      return { status: e.statusCode, body: body(e.code, e.message) };
    }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: body('unsupported-media-type', `Send the image as multipart/form-data (field "file") or as the raw request body. ${FORMATS}`) };
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return { status: 400, body: body('bad-request', 'Send one image per request (one multipart file field).') };
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, body: body('bad-request', `${fe.message}. Send the image as multipart/form-data (field "file") or as the raw request body.`) };
  }
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) return { status, body: body(status === 404 ? 'not-found' : 'bad-request', fe.message) };
  return { status: 500, body: body('internal', 'Internal error while handling the request; it has been logged. Try again, and report it if it repeats.') };
}

/** How long the rest of a refused body is received and thrown away before the connection is closed. */
export const LINGER_MS = 2000;

/**
 * Answers a request whose body has not been (fully) read: 503 busy, 413 by Content-Length, 403,
 * a bad query. Through Node's response machinery the rest of the body would be received and thrown
 * away for as long as the client sends (no memory, but CPU for every refused upload of a flood), and
 * closing the socket at once makes the kernel reset the connection with the answer possibly still
 * unread. So the socket stops being read, the answer is written on it directly with
 * `Connection: close` and a FIN, and it is closed for good after LINGER_MS (or when the client goes).
 * Returns false for requests without a real socket (fastify's inject), answered the ordinary way.
 */
function refuseUnread(request: FastifyRequest, reply: FastifyReply, status: number, body: ApiError): boolean {
  const socket = request.raw.socket;
  if (!(socket instanceof Socket) || socket.destroyed) return false;
  socket.pause();
  reply.hijack();
  const payload = Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
  Object.assign(headers, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(payload.length), connection: 'close' });
  const head = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v.replace(/[\r\n]/g, ' ')}`), '', ''].join('\r\n');
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), payload]));
  // not unref'd: a paused socket keeps no event loop alive, and closing the server waits for this one
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once('close', () => clearTimeout(timer));
  return true;
}

/** Fastify error handler: JSON errors everywhere, stack traces only in the log. */
export function errorHandler(ctx: { maxUploadBytes: number }) {
  return (err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body, retryAfter } = describeError(err, ctx);
    if (status >= 500 && status !== 503) request.log.error({ err }, 'request failed');
    if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
    if (!request.raw.complete && refuseUnread(request, reply, status, body)) return;
    return reply.code(status).type('application/json; charset=utf-8').send(body);
  };
}
