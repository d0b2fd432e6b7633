// Attack tests of the HTTP server (issue 13, items 3, 11 and 13), each hostile request made here:
// floods of slow uploads over real loopback sockets (admission before the body, a byte budget),
// malformed multipart bodies and query strings, unknown methods, DNS rebinding through the Host
// header and cross-site form posts. The next audit starts from this file.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { FeatureCache } from '../src/features/cache.js';
import { trainRun } from '../src/protocol/train-run.js';
import { serveRun } from '../src/cli/commands/serve.js';
import { buildServer, loadModelService, type ApiError, type ServerOptions, type Predictor } from '../src/server/index.js';
import { hostChecker, sameOrigin } from '../src/server/security.js';
import { UploadBuffers } from '../src/server/upload-buffers.js';
import { DEFAULT_UPLOADS_IN_FLIGHT } from '../src/server/app.js';
import { Backbone } from '../src/backbone/backbone.js';
import sharp from 'sharp';
import { makeTinyDataset } from './helpers/tiny-dataset.js';
import { skipNoShared as skip } from './helpers/shared.js';

let work: string;
let runDir: string;
let model: Predictor;
let png: Buffer;

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'dc-hardening-server-'));
  const data = await makeTinyDataset({ train: [8, 8], test: [4, 4], perPatient: 2, manifest: true });
  runDir = join(work, 'run');
  await trainRun({ data, out: runDir, config: { backbone: 'squeezenet1_1', epochs: 3, augmentFactor: 2, seed: 3 }, cache: new FeatureCache(join(work, 'cache')) });
  png = await readFile(join(data, 'test', 'covid', 'img-000.png'));
  await rm(data, { recursive: true, force: true });
  model = await loadModelService(runDir);
});

after(async () => {
  await model?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** The model behind a gate: counts calls, and holds each call until `open()` when `hold` is set. */
function gated(hold: boolean) {
  let open!: () => void;
  const gate = hold ? new Promise<void>((r) => { open = r; }) : Promise.resolve();
  let calls = 0;
  const predictor: Predictor = {
    runId: model.runId, card: model.card, modelRef: model.modelRef, operatingPoint: model.operatingPoint, close: async () => {},
    predict: async (req) => { calls++; await gate; return model.predict(req); },
  };
  return { predictor, open: () => open?.(), calls: () => calls };
}

async function listen(opts: Partial<ServerOptions> & { model: Predictor }): Promise<{ app: FastifyInstance; port: number }> {
  const app = await buildServer({ host: '127.0.0.1', ...opts });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  assert.ok(addr && typeof addr === 'object');
  return { app, port: addr.port };
}

/** A raw HTTP response as read from a socket. */
interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Body bytes the client had sent when the status line arrived. */
  sentWhenAnswered: number;
  /** Interim "100 Continue" seen before the final status. */
  continued: boolean;
}

/**
 * A slow upload over a real socket: sends the headers, then `chunk` bytes every `everyMs` until
 * `total` are sent (or the server answers or closes), and resolves with the response.
 * `continueFirst` waits for "100 Continue" before the first body byte (Expect: 100-continue).
 */
function slowUpload(port: number, o: { total: number; chunk: number; everyMs: number; declare?: boolean; continueFirst?: boolean; host?: string; path?: string; stopAfter?: number; keepOpen?: boolean }): Promise<RawResponse> & { socket: Socket } {
  const socket = connect({ host: '127.0.0.1', port });
  const headers = [
    `POST ${o.path ?? '/api/predict'} HTTP/1.1`,
    `Host: ${o.host ?? `127.0.0.1:${port}`}`,
    'Content-Type: application/octet-stream',
    o.declare === false ? 'Transfer-Encoding: chunked' : `Content-Length: ${o.total}`,
    ...(o.continueFirst ? ['Expect: 100-continue'] : []),
    '', '',
  ].join('\r\n');
  let sent = 0;
  let answered = false;
  let timer: NodeJS.Timeout | undefined;
  let buf = Buffer.alloc(0);
  let continued = false;
  let sentWhenAnswered = -1;
  const sendMore = () => {
    if (answered || socket.destroyed) return;
    const limit = o.stopAfter ?? o.total;
    const n = Math.min(o.chunk, limit - sent);
    if (n <= 0) {
      if (o.declare === false && sent >= o.total) socket.write('0\r\n\r\n');
      return;
    }
    const body = Buffer.alloc(n, 0x41);
    socket.write(o.declare === false ? Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), body, Buffer.from('\r\n')]) : body);
    sent += n;
    timer = setTimeout(sendMore, o.everyMs);
  };
  const p = new Promise<RawResponse>((resolve, reject) => {
    const finish = () => {
      clearTimeout(timer);
      const text = buf.toString('latin1');
      const headEnd = text.indexOf('\r\n\r\n');
      if (headEnd < 0) return reject(new Error(`connection closed without a response after ${sent} body bytes`));
      const [statusLine, ...lines] = text.slice(0, headEnd).split('\r\n');
      const headersOut: Record<string, string> = {};
      for (const l of lines) headersOut[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      resolve({ status: Number(statusLine.split(' ')[1]), headers: headersOut, body: text.slice(headEnd + 4), sentWhenAnswered, continued });
    };
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      // an interim 100 Continue: start sending, keep reading for the final answer
      const s = buf.toString('latin1');
      if (!continued && s.startsWith('HTTP/1.1 100')) {
        const end = s.indexOf('\r\n\r\n');
        if (end < 0) return;
        continued = true;
        buf = buf.subarray(end + 4);
        if (o.continueFirst) sendMore();
        if (buf.length === 0) return;
      }
      if (!answered && buf.includes('\r\n\r\n')) {
        answered = true;
        sentWhenAnswered = sent;
        clearTimeout(timer);
      }
      const t = buf.toString('latin1');
      const he = t.indexOf('\r\n\r\n');
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(t.slice(0, he));
      if (he >= 0 && m && Buffer.byteLength(t.slice(he + 4), 'latin1') >= Number(m[1])) {
        finish();
        if (!o.keepOpen) socket.destroy();
      }
    });
    socket.on('error', () => {});
    socket.on('close', finish);
    socket.on('connect', () => {
      socket.write(headers);
      if (!o.continueFirst) sendMore();
    });
  });
  return Object.assign(p, { socket });
}

async function health(port: number, host = '127.0.0.1'): Promise<{ status: number; body: { running: number; waiting: number; bytesInFlight: number } }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { host } });
  return { status: res.status, body: await res.json() as { running: number; waiting: number; bytesInFlight: number } };
}

function until(cond: () => Promise<boolean> | boolean, what: string, ms = 30_000): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = async () => {
      if (await cond()) return resolve();
      if (Date.now() - t0 > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    void tick();
  });
}

// ---- item 3: admission before the body, and a byte budget ----

test('a flood of slow uploads: only the admitted ones are read; the rest get 503 + Retry-After before sending their bodies', { skip, timeout: 120_000 }, async () => {
  const g = gated(true);
  const upload = 256 * 1024;
  const { app, port } = await listen({ model: g.predictor, concurrency: 1, maxQueued: 1, maxUploadBytes: upload });
  try {
    // two uploads take both places (one will run, one wait); they trickle 8 KiB every 20 ms
    const first = slowUpload(port, { total: upload, chunk: 8192, everyMs: 20 });
    const second = slowUpload(port, { total: upload, chunk: 8192, everyMs: 20 });
    await until(async () => { const b = (await health(port)).body; return b.running + b.waiting === 2; }, 'two admitted uploads');
    // the flood sends its headers and 8 KiB, then waits for an answer: only a refusal from the headers can come
    const flood = Array.from({ length: 10 }, () => slowUpload(port, { total: upload, chunk: 8192, everyMs: 20, stopAfter: 8192 }));
    const refused = await Promise.all(flood);
    for (const r of refused) {
      assert.equal(r.status, 503, r.body);
      assert.equal((JSON.parse(r.body) as ApiError).error.code, 'busy');
      assert.match(r.headers['retry-after'], /^[1-9]\d*$/);
      assert.equal(r.headers.connection, 'close', 'the unread body is not received to be thrown away');
    }
    // a refused client that keeps its connection open and stops sending is disconnected by the server
    const lingering = slowUpload(port, { total: upload, chunk: 8192, everyMs: 20, stopAfter: 8192, keepOpen: true });
    assert.equal((await lingering).status, 503);
    await until(() => lingering.socket.destroyed, 'the server closing the refused connection');
    // /healthz answers during the flood, and no more than the two admitted uploads are in flight
    const h = await health(port);
    assert.equal(h.status, 200);
    assert.ok(h.body.bytesInFlight <= 2 * (upload + 64 * 1024), `bytes in flight ${h.body.bytesInFlight}`);
    // the admitted uploads are answered once the model runs (they are not images: 415)
    g.open();
    assert.deepEqual([(await first).status, (await second).status], [415, 415]);
    await until(async () => (await health(port)).body.bytesInFlight === 0, 'every admission released');
    const end = (await health(port)).body;
    assert.deepEqual([end.running, end.waiting, end.bytesInFlight], [0, 0, 0]);
  } finally {
    g.open();
    await app.close();
  }
});

test('the byte budget: uploads whose declared sizes do not fit beside those in flight are refused at once, chunked ones count as full-size', { skip, timeout: 120_000 }, async () => {
  const g = gated(true);
  const upload = 256 * 1024;
  // room in the queue for 10, but bytes for only about 2 full-size uploads
  const { app, port } = await listen({ model: g.predictor, concurrency: 1, maxQueued: 10, maxUploadBytes: upload, maxBytesInFlight: 2 * upload + 100_000 });
  try {
    const a = slowUpload(port, { total: upload, chunk: 8192, everyMs: 25 });
    const b = slowUpload(port, { total: upload, chunk: 8192, everyMs: 25 });
    await until(async () => { const h = (await health(port)).body; return h.running + h.waiting === 2; }, 'two admitted uploads');
    const big = await slowUpload(port, { total: upload, chunk: 8192, everyMs: 25, stopAfter: 8192 });
    assert.equal(big.status, 503, big.body);
    assert.match(JSON.parse(big.body).error.message, /memory budget/);
    // a small upload still fits in the budget
    const small = slowUpload(port, { total: 50_000, chunk: 50_000, everyMs: 10 });
    // a chunked upload (no Content-Length) reserves the whole upload limit: refused
    const chunked = await slowUpload(port, { total: upload, chunk: 8192, everyMs: 25, declare: false, stopAfter: 8192 });
    assert.equal(chunked.status, 503, chunked.body);
    g.open();
    assert.deepEqual([(await a).status, (await b).status, (await small).status], [415, 415, 415]);
  } finally {
    g.open();
    await app.close();
  }
});

test('a declared body over the upload limit is a 413 before it is read; Expect: 100-continue is answered only when admitted', { skip, timeout: 120_000 }, async () => {
  const g = gated(true);
  const upload = 128 * 1024;
  const { app, port } = await listen({ model: g.predictor, concurrency: 1, maxQueued: 0, maxUploadBytes: upload });
  try {
    const huge = await slowUpload(port, { total: 50 * 1024 * 1024, chunk: 8192, everyMs: 20, stopAfter: 8192 });
    assert.equal(huge.status, 413, huge.body);
    assert.equal(JSON.parse(huge.body).error.code, 'upload-too-large');
    // with Expect: 100-continue the admitted client is told to go on, the next one is refused without sending anything
    const admitted = slowUpload(port, { total: 1000, chunk: 1000, everyMs: 10, continueFirst: true });
    await until(() => g.calls() === 1, 'the admitted upload reaching the model');
    const refused = await slowUpload(port, { total: 1000, chunk: 1000, everyMs: 10, continueFirst: true });
    assert.equal(refused.status, 503);
    assert.equal(refused.continued, false);
    assert.equal(refused.sentWhenAnswered, 0);
    g.open();
    const ok = await admitted;
    assert.equal(ok.continued, true);
    assert.equal(ok.status, 415);
  } finally {
    g.open();
    await app.close();
  }
});

test('a client that hangs up mid-upload frees its place', { skip, timeout: 120_000 }, async () => {
  const g = gated(false);
  const { app, port } = await listen({ model: g.predictor, concurrency: 1, maxQueued: 0, maxUploadBytes: 1024 * 1024 });
  try {
    const quitter = slowUpload(port, { total: 1024 * 1024, chunk: 4096, everyMs: 20, stopAfter: 16_384 });
    await until(async () => (await health(port)).body.bytesInFlight > 0, 'the upload admitted');
    quitter.socket.destroy();
    await quitter.catch(() => null);
    await until(async () => (await health(port)).body.bytesInFlight === 0, 'the place freed');
    const res = await fetch(`http://127.0.0.1:${port}/api/predict`, { method: 'POST', body: new Uint8Array(png), headers: { 'content-type': 'image/png' } });
    assert.equal(res.status, 200, await res.text());
  } finally {
    await app.close();
  }
});

// ---- the event loop under load: inference off the loop, upload bodies in reused memory ----

test('a backbone pass runs on its own thread: the same features, and the event loop keeps turning meanwhile (onnxruntime runs synchronously on its caller)', { skip, timeout: 120_000 }, async () => {
  const onLoop = await Backbone.load('squeezenet1_1', { offThread: false });
  // the default: on a thread of its own
  const offLoop = await Backbone.load('squeezenet1_1');
  try {
    // a batch of 8, so that the pass outlasts the scheduling noise of a loaded machine
    const n = 8;
    const x = new Float32Array(n * onLoop.imageLength).map((_, i) => Math.sin(i / 97));
    /** Turns of the event loop (setImmediate chained) while one pass runs. */
    const turnsDuring = async (b: Backbone) => {
      let turns = 0;
      let running = true;
      const spin = () => { if (running) { turns++; setImmediate(spin); } };
      setImmediate(spin);
      const out = await b.run(x, n, { pooled: true, map: true });
      running = false;
      return { out, turns };
    };
    await onLoop.run(x, n, { pooled: true });
    await offLoop.run(x, n, { pooled: true });
    const a = await turnsDuring(onLoop);
    const b = await turnsDuring(offLoop);
    assert.deepEqual(b.out.pooled, a.out.pooled);
    assert.deepEqual(b.out.map, a.out.map);
    // on the calling thread the whole pass is one turn; on its own thread the loop spins throughout
    assert.ok(a.turns <= 2, `on the loop: ${a.turns} turns`);
    assert.ok(b.turns >= 3, `off the loop: ${b.turns} turns`);
  } finally {
    await onLoop.release();
    await offLoop.release();
  }
});

test('large bodies are received into reused shared buffers; an upload never sees an earlier one\'s bytes', { skip, timeout: 120_000 }, async () => {
  const pool = new UploadBuffers(8 * 2 ** 20);
  const first = pool.lease(3 * 2 ** 20);
  assert.ok(first.bytes.buffer instanceof SharedArrayBuffer, 'shared, so the decoder thread gets it without a copy');
  first.release();
  const second = pool.lease(3 * 2 ** 20 + 5);
  assert.equal(second.bytes.buffer, first.bytes.buffer, 'the same memory again');
  assert.equal(second.bytes.length, 3 * 2 ** 20 + 5);
  second.release();
  assert.equal(pool.lease(100).bytes.buffer instanceof SharedArrayBuffer, false, 'small bodies use ordinary buffers');
  // leased and idle memory together stay within the budget: an idle buffer gives way to a lease
  // of another size instead of being kept beside it (reuse must not double the upload memory)
  const big = pool.lease(6 * 2 ** 20);
  assert.ok(pool.idleBytes + big.bytes.buffer.byteLength <= 8 * 2 ** 20, `idle ${pool.idleBytes} beside a 6 MiB lease`);
  big.release();
  assert.ok(pool.idleBytes <= 8 * 2 ** 20);

  // through the server: A then B in bodies of the same size (one pooled buffer), B's answer is B's
  const { app, port } = await listen({ model, maxUploadBytes: 4 * 2 ** 20 });
  try {
    const other = await sharp(png).flop().negate({ alpha: false }).png().toBuffer();
    const padded = (b: Buffer) => Buffer.concat([b, Buffer.alloc(2 * 2 ** 20 - b.length)]);
    const ask = async (b: Buffer) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/predict`, { method: 'POST', body: new Uint8Array(padded(b)), headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(res.status, 200);
      return ((await res.json()) as { probability: number }).probability;
    };
    const pB = await ask(other);
    const pA = await ask(png);
    assert.notEqual(pA, pB, 'the two images must differ for this test to mean anything');
    assert.equal(await ask(other), pB);
    // a client that stops mid-upload gives its buffer back; the next upload is whole
    const quitter = slowUpload(port, { total: 2 * 2 ** 20, chunk: 65_536, everyMs: 5, stopAfter: 2 ** 20 });
    await until(async () => (await health(port)).body.bytesInFlight > 0, 'the upload admitted');
    quitter.socket.destroy();
    await quitter.catch(() => null);
    await until(async () => (await health(port)).body.bytesInFlight === 0, 'the place freed');
    assert.equal(await ask(png), pA);
  } finally {
    await app.close();
  }
});

// ---- item 11: malformed requests are 400 / 405, never 500 ----

const BOUNDARY = 'dc-hostile-7f';
function filePart(name: string, filename: string, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: image/png\r\n\r\n`), bytes, Buffer.from('\r\n')]);
}
const END = Buffer.from(`--${BOUNDARY}--\r\n`);

test('at the default budget, buffers for uploads at the size limit are all kept and reused, never made anew (a limit that is not a multiple of the rounding)', async () => {
  // 5 MiB is not a multiple of the pool's 4 MiB rounding: rounded up, two buffers overflowed a
  // budget of two uploads, so every buffer given back was dropped and each upload made a new one
  const limit = 5 * 2 ** 20;
  const pool = new UploadBuffers(DEFAULT_UPLOADS_IN_FLIGHT * limit, limit);
  const first = Array.from({ length: DEFAULT_UPLOADS_IN_FLIGHT }, () => pool.lease(limit));
  for (const l of first) l.release();
  assert.equal(pool.idleBytes, DEFAULT_UPLOADS_IN_FLIGHT * limit, 'every buffer kept for the next uploads');
  const again = Array.from({ length: DEFAULT_UPLOADS_IN_FLIGHT }, () => pool.lease(limit));
  assert.deepEqual(new Set(again.map((l) => l.bytes.buffer)), new Set(first.map((l) => l.bytes.buffer)), 'the same memory again');
  for (const l of again) l.release();
  // a body a little under the limit is rounded up to the limit, not beyond, and takes a kept buffer too
  const small = pool.lease(limit - 1000);
  assert.ok(first.some((l) => l.bytes.buffer === small.bytes.buffer), 'a kept buffer');
  small.release();
  assert.ok(pool.idleBytes <= DEFAULT_UPLOADS_IN_FLIGHT * limit);
});

test('multipart without a boundary, cut off, or with two files; repeated or unknown query parameters: 400 with the reason, and the model is never called', { skip }, async () => {
  const g = gated(false);
  const app = await buildServer({ model: g.predictor });
  try {
    const cases: [string, InjectOptions, RegExp][] = [
      ['no boundary', { method: 'POST', url: '/api/predict', headers: { 'content-type': 'multipart/form-data' }, payload: Buffer.concat([filePart('file', 'a.png', png), END]) }, /boundary/],
      ['cut off', { method: 'POST', url: '/api/predict', headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, payload: filePart('file', 'a.png', png) }, /could not be read/],
      ['two files', { method: 'POST', url: '/api/predict', headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, payload: Buffer.concat([filePart('file', 'a.png', png), filePart('file', 'b.png', png), END]) }, /one image per request/],
      ['two file fields', { method: 'POST', url: '/api/predict', headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, payload: Buffer.concat([filePart('file', 'a.png', png), filePart('other', 'b.png', png), END]) }, /one image per request/],
      ['repeated name', { method: 'POST', url: '/api/predict?name=a.png&name=b.png', headers: { 'content-type': 'image/png' }, payload: png }, /more than once/],
      ['repeated occlusion', { method: 'POST', url: '/api/predict?occlusion=0&occlusion=1', headers: { 'content-type': 'image/png' }, payload: png }, /more than once/],
      ['unknown parameter', { method: 'POST', url: '/api/predict?occlusoin=1', headers: { 'content-type': 'image/png' }, payload: png }, /unknown query parameter "occlusoin"/],
    ];
    for (const [what, req, message] of cases) {
      const res = await app.inject(req);
      assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
      assert.match((res.json() as ApiError).error.message, message, what);
    }
    assert.equal(g.calls(), 0, 'no malformed request reached the model');
    // a field before the file is fine, and the file is the one used
    const ok = await app.inject({ method: 'POST', url: '/api/predict', headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, payload: Buffer.concat([Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n`), filePart('file', 'real.png', png), END]) });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.json().file, 'real.png');
  } finally {
    await app.close();
  }
});

test('a known path with another method is 405 with Allow; an unknown path stays 404', { skip }, async () => {
  const app = await buildServer({ model });
  try {
    for (const [method, url, allow] of [['GET', '/api/predict', 'POST'], ['PUT', '/api/predict', 'POST'], ['DELETE', '/healthz', 'GET, HEAD'], ['POST', '/api/model', 'GET, HEAD'], ['PATCH', '/', 'GET, HEAD'], ['PROPFIND', '/api/openapi.json', 'GET, HEAD']] as const) {
      const res = await app.inject({ method: method as 'GET', url });
      assert.equal(res.statusCode, 405, `${method} ${url}: ${res.body}`);
      assert.equal(res.headers.allow, allow);
      assert.equal((res.json() as ApiError).error.code, 'method-not-allowed');
    }
    assert.equal((await app.inject({ method: 'DELETE', url: '/nothing-here' })).statusCode, 404);
  } finally {
    await app.close();
  }
});

// ---- item 13: DNS rebinding and cross-site posts ----

test('Host header: a rebound name is refused on every route; this computer\'s names, the bind address and allowed names pass', { skip }, async () => {
  const g = gated(false);
  const app = await buildServer({ model: g.predictor, host: '127.0.0.1', allowedHosts: ['xray.lab.example', 'proxy.example:8443'] });
  try {
    for (const url of ['/', '/healthz', '/api/model', '/api/openapi.json']) {
      const res = await app.inject({ method: 'GET', url, headers: { host: 'attacker.example:8080' } });
      assert.equal(res.statusCode, 403, url);
      assert.equal((res.json() as ApiError).error.code, 'host-not-allowed');
    }
    const post = await app.inject({ method: 'POST', url: '/api/predict', headers: { host: 'attacker.example', 'content-type': 'image/png' }, payload: png });
    assert.equal(post.statusCode, 403);
    assert.equal(g.calls(), 0);
    for (const host of ['localhost:8080', 'LOCALHOST', '127.0.0.1:1', '[::1]:8080', 'xray.lab.example', 'xray.lab.example:9000', 'proxy.example:8443']) {
      assert.equal((await app.inject({ method: 'GET', url: '/healthz', headers: { host } })).statusCode, 200, host);
    }
    for (const host of ['proxy.example:80', 'localhost.attacker.example', '127.0.0.1.nip.io', 'evil@localhost', 'localhost/x']) {
      assert.equal((await app.inject({ method: 'GET', url: '/healthz', headers: { host } })).statusCode, 403, host);
    }
  } finally {
    await app.close();
  }
  // bound to every address: IP literals (which no DNS answer can re-point) pass, names do not
  const check = hostChecker({ bindHost: '0.0.0.0' });
  assert.deepEqual(['192.168.1.20:8080', '[fe80::1]:80', 'localhost', 'my-laptop.local:8080'].map((h) => check(h)), [true, true, true, false]);
  assert.equal(hostChecker({ bindHost: '0.0.0.0', allowedHosts: ['my-laptop.local'] })('my-laptop.local:8080'), true);
  assert.equal(hostChecker({ allowedHosts: ['*'] })('anything.example'), true);
  assert.equal(hostChecker({})(''), false);
  assert.throws(() => hostChecker({ allowedHosts: ['bad host/x'] }), RangeError);
});

test('a cross-site form POST (or fetch) is refused before the upload is read; same-origin and non-browser clients pass', { skip }, async () => {
  const g = gated(false);
  const app = await buildServer({ model: g.predictor, host: '127.0.0.1' });
  try {
    const form = Buffer.concat([filePart('file', 'a.png', png), END]);
    const hostile: Record<string, string>[] = [
      { origin: 'http://attacker.example' },
      { origin: 'null' },
      { origin: 'http://127.0.0.1:9999' },
      { origin: 'file://' },
      { 'sec-fetch-site': 'cross-site' },
      { origin: 'http://127.0.0.1:8080', 'sec-fetch-site': 'same-site' },
    ];
    for (const h of hostile) {
      const res = await app.inject({ method: 'POST', url: '/api/predict', headers: { host: '127.0.0.1:8080', 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, ...h }, payload: form });
      assert.equal(res.statusCode, 403, JSON.stringify(h));
      assert.equal((res.json() as ApiError).error.code, 'cross-origin');
    }
    assert.equal(g.calls(), 0);
    for (const h of [{}, { origin: 'http://127.0.0.1:8080', 'sec-fetch-site': 'same-origin' }, { origin: 'http://LOCALHOST:8080', host: 'localhost:8080' }]) {
      const res = await app.inject({ method: 'POST', url: '/api/predict', headers: { host: '127.0.0.1:8080', 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, ...h }, payload: form });
      assert.equal(res.statusCode, 200, `${JSON.stringify(h)}: ${res.body}`);
    }
  } finally {
    await app.close();
  }
  // behind a TLS proxy the Origin is https and the Host has no port
  assert.equal(sameOrigin({ host: 'xray.example', origin: 'https://xray.example' }), true);
  assert.equal(sameOrigin({ host: 'xray.example:8080', origin: 'https://xray.example' }), false);
});

test('deep-covid serve checks Host with --allowed-host names added', { skip }, async () => {
  const stop = new AbortController();
  let url = '';
  const lines: string[] = [];
  const io = { out: (s: string) => lines.push(s), err: (s: string) => lines.push(s) };
  const serving = serveRun({
    run: runDir, port: '0', host: '127.0.0.1', maxUploadMb: '1', concurrency: '1', queue: '2', allowedHost: ['xray.lab.example'], maxBufferedMb: '3',
  }, io, stop.signal, (u) => { url = u; });
  try {
    await until(() => url !== '', 'the server listening');
    const port = new URL(url).port;
    const get = (host: string) => new Promise<number>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: Number(port) }, () => s.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
      let t = '';
      s.on('data', (d) => { t += d; });
      s.on('end', () => resolve(Number(t.split(' ')[1])));
      s.on('error', reject);
    });
    assert.equal(await get('attacker.example:' + port), 403);
    assert.equal(await get('xray.lab.example:' + port), 200);
    assert.equal(await get('127.0.0.1:' + port), 200);
    const card = await (await fetch(`${url}api/model`)).json() as { limits: { maxUploadBytes: number } };
    assert.equal(card.limits.maxUploadBytes, 1024 * 1024);
  } finally {
    stop.abort();
    await serving;
  }
  await assert.rejects(serveRun({ run: runDir, port: '0', host: '127.0.0.1', maxUploadMb: '1', concurrency: '1', queue: '2', allowedHost: ['bad host/x'] }, io, new AbortController().signal), /--allowed-host/);
});
