/**
 * A small DICOMweb client over fetch (Node 20): QIDO-RS searches with paging, WADO-RS instance
 * retrieval (multipart/related; application/dicom) and STOW-RS. `dicomweb-client` (npm) builds
 * on XMLHttpRequest, which Node does not have, hence this one. Every request has a timeout and
 * honours an AbortSignal; error messages never carry UIDs (they name the request kind only).
 */
import { PacsError } from '../../errors.js';
import { buildMultipart, parseMultipart } from './multipart.js';

/** Credentials sent with every request. */
export type DicomWebAuth = { bearer: string } | { username: string; password: string };

/** Options of a DICOMweb client. */
export interface DicomWebOptions {
  /** Service root, e.g. http://127.0.0.1:8042/dicom-web */
  url: string;
  auth?: DicomWebAuth;
  /** Extra headers (e.g. an API key header some gateways want). */
  headers?: Record<string, string>;
  /** Per-request timeout in ms (default 60 s). */
  timeoutMs?: number;
  /** QIDO-RS page size (default 100). */
  pageSize?: number;
  /** Largest answer accepted, in bytes (default 1 GiB). */
  maxBytes?: number;
  /** For tests. */
  fetch?: typeof fetch;
}

/** A DICOM JSON dataset (PS3.18 F.2): tag → { vr, Value }. */
export type DicomJson = Record<string, { vr: string; Value?: unknown[]; InlineBinary?: string; BulkDataURI?: string }>;

/** The first value of a tag in a DICOM JSON dataset as a string ('' when absent). */
export function jsonValue(d: DicomJson, tag: string): string {
  const v = d[tag]?.Value?.[0];
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return String((v as { Alphabetic?: string }).Alphabetic ?? '');
  return String(v);
}

/** What STOW-RS reported. */
export interface StowResult {
  stored: string[];
  failed: { sopInstanceUid: string; reason: number | null }[];
}

export class DicomWebClient {
  private readonly base: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly pageSize: number;
  private readonly maxBytes: number;
  private readonly fetchFn: typeof fetch;

  constructor(opts: DicomWebOptions) {
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch {
      throw new PacsError(`DICOMweb URL "${opts.url}" is not a URL: give the service root, e.g. http://pacs.example:8042/dicom-web`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new PacsError(`DICOMweb URL "${opts.url}" must start with http:// or https://`);
    this.base = url.toString().replace(/\/+$/, '');
    this.headers = { ...(opts.headers ?? {}) };
    if (opts.auth && 'bearer' in opts.auth) this.headers.authorization = `Bearer ${opts.auth.bearer}`;
    else if (opts.auth) this.headers.authorization = `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}`;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.pageSize = opts.pageSize ?? 100;
    this.maxBytes = opts.maxBytes ?? 2 ** 30;
    this.fetchFn = opts.fetch ?? fetch;
  }

  /**
   * QIDO-RS search for series across all studies, all pages. (Series, not studies: Orthanc
   * 1.10 drops every page after the first of a study search filtered by ModalitiesInStudy.)
   */
  searchSeries(query: Record<string, string>, signal?: AbortSignal): AsyncGenerator<DicomJson> {
    return this.search('/series', query, 'series search', signal);
  }

  /** QIDO-RS instance search within one series, all pages. */
  searchInstances(study: string, series: string, query: Record<string, string>, signal?: AbortSignal): AsyncGenerator<DicomJson> {
    return this.search(`/studies/${encodeURIComponent(study)}/series/${encodeURIComponent(series)}/instances`, query, 'instance search', signal);
  }

  /**
   * WADO-RS: one instance as a Part 10 file, in the stored transfer syntax when the server
   * allows (`transfer-syntax=*`), else in whatever it sends by default.
   */
  async retrieveInstance(study: string, series: string, instance: string, signal?: AbortSignal): Promise<Uint8Array> {
    const path = `/studies/${encodeURIComponent(study)}/series/${encodeURIComponent(series)}/instances/${encodeURIComponent(instance)}`;
    let res = await this.request(path, { accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' }, 'instance retrieval', signal, [406, 400]);
    if (res.status === 406 || res.status === 400) {
      await res.body?.cancel();
      res = await this.request(path, { accept: 'multipart/related; type="application/dicom"' }, 'instance retrieval', signal);
    }
    const body = await this.readBody(res, 'instance retrieval');
    const parts = parseMultipart(body, res.headers.get('content-type') ?? '');
    if (parts.length !== 1) throw new PacsError(`instance retrieval returned ${parts.length} parts instead of 1`);
    return parts[0].body;
  }

  /** STOW-RS: stores Part 10 files into a study. */
  async store(studyUid: string, files: Uint8Array[], signal?: AbortSignal): Promise<StowResult> {
    const { body, contentType } = buildMultipart(files, 'application/dicom');
    const res = await this.request(`/studies/${encodeURIComponent(studyUid)}`, { 'content-type': contentType, accept: 'application/dicom+json' }, 'store (STOW-RS)', signal, [409], { method: 'POST', body });
    const text = new TextDecoder().decode(await this.readBody(res, 'store (STOW-RS)'));
    let json: DicomJson = {};
    try {
      json = text.trim() ? (JSON.parse(text) as DicomJson) : {};
    } catch {
      throw new PacsError(`store (STOW-RS) answered HTTP ${res.status} with a body that is not DICOM JSON`, res.status);
    }
    const items = (tag: string) => (json[tag]?.Value ?? []) as DicomJson[];
    const result: StowResult = {
      stored: items('00081199').map((i) => jsonValue(i, '00081155')),
      failed: items('00081198').map((i) => ({ sopInstanceUid: jsonValue(i, '00081155'), reason: jsonValue(i, '00081197') ? Number(jsonValue(i, '00081197')) : null })),
    };
    if (res.status === 409 && !result.failed.length) throw new PacsError('store (STOW-RS) was refused (HTTP 409)', 409);
    return result;
  }

  private async *search(path: string, query: Record<string, string>, what: string, signal?: AbortSignal): AsyncGenerator<DicomJson> {
    for (let offset = 0; ; offset += this.pageSize) {
      const q = new URLSearchParams(query);
      q.set('limit', String(this.pageSize));
      q.set('offset', String(offset));
      const res = await this.request(`${path}?${q}`, { accept: 'application/dicom+json' }, what, signal);
      const text = res.status === 204 ? '' : new TextDecoder().decode(await this.readBody(res, what));
      let page: DicomJson[];
      try {
        page = text.trim() ? (JSON.parse(text) as DicomJson[]) : [];
      } catch {
        throw new PacsError(`${what} answered with a body that is not DICOM JSON`);
      }
      if (!Array.isArray(page)) throw new PacsError(`${what} answered with DICOM JSON that is not a list`);
      yield* page;
      if (page.length < this.pageSize) return;
    }
  }

  private async request(path: string, headers: Record<string, string>, what: string, signal: AbortSignal | undefined, allow: number[] = [], init: { method?: string; body?: Buffer } = {}): Promise<Response> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const sig = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await this.fetchFn(`${this.base}${path}`, { method: init.method ?? 'GET', headers: { ...this.headers, ...headers }, body: init.body ? new Uint8Array(init.body.buffer, init.body.byteOffset, init.body.byteLength) as Uint8Array<ArrayBuffer> : undefined, signal: sig });
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      if (timeout.aborted) throw new PacsError(`${what} timed out after ${this.timeoutMs} ms`, null, { cause: err });
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err instanceof Error ? err.message : String(err));
      throw new PacsError(`${what} failed: could not reach the DICOMweb service at ${this.base} (${cause})`, null, { cause: err });
    }
    if (res.ok || allow.includes(res.status)) return res;
    await res.body?.cancel();
    const hint = res.status === 401 || res.status === 403 ? ': check the credentials (bearer token or user name and password)' : res.status === 404 ? ': check the service root URL' : '';
    throw new PacsError(`${what} failed: HTTP ${res.status} ${res.statusText}${hint}`, res.status);
  }

  private async readBody(res: Response, what: string): Promise<Uint8Array> {
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > this.maxBytes) throw new PacsError(`${what}: the answer is ${declared} bytes, over the limit of ${this.maxBytes}`);
    if (!res.body) return new Uint8Array(0);
    const chunks: Uint8Array[] = [];
    let n = 0;
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.byteLength;
      if (n > this.maxBytes) {
        await reader.cancel();
        throw new PacsError(`${what}: the answer is over the limit of ${this.maxBytes} bytes`);
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks, n);
  }
}
