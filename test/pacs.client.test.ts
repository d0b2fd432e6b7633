// The DICOMweb client's protocol handling against a scripted fetch: credentials, QIDO-RS paging,
// timeouts and aborts, the WADO-RS fallback when "transfer-syntax=*" is not accepted, STOW-RS
// failure reports, and multipart/related framing (quoted boundaries, preambles, truncation).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildMultipart, contentTypeParam, DicomWebClient, parseMultipart, WatchState } from '../src/pacs/index.js';
import { PacsError } from '../src/errors.js';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Call = { url: string; headers: Record<string, string>; method: string };

function scripted(answer: (url: URL, init: RequestInit) => Response | Promise<Response>): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = [];
  const f = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(String(input));
    calls.push({ url: url.toString(), headers: init.headers as Record<string, string>, method: init.method ?? 'GET' });
    return answer(url, init);
  }) as typeof fetch;
  return { fetch: f, calls };
}

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/dicom+json' } });
const series = (i: number) => ({ '0020000D': { vr: 'UI', Value: [`1.2.${i}`] }, '0020000E': { vr: 'UI', Value: [`1.2.${i}.1`] } });

test('QIDO-RS pages with limit/offset until a short page, sending bearer or basic credentials', async () => {
  const all = Array.from({ length: 7 }, (_, i) => series(i));
  const s = scripted((url) => {
    const limit = Number(url.searchParams.get('limit'));
    const offset = Number(url.searchParams.get('offset'));
    return json(all.slice(offset, offset + limit));
  });
  const c = new DicomWebClient({ url: 'http://pacs.test/dicom-web/', auth: { bearer: 'tok' }, pageSize: 3, fetch: s.fetch });
  const got = [];
  for await (const x of c.searchSeries({ Modality: 'CR,DX' })) got.push(x);
  assert.equal(got.length, 7);
  assert.deepEqual(s.calls.map((k) => new URL(k.url).searchParams.get('offset')), ['0', '3', '6']);
  assert.ok(s.calls.every((k) => k.headers.authorization === 'Bearer tok'));
  assert.equal(new URL(s.calls[0].url).pathname, '/dicom-web/series');
  assert.equal(new URL(s.calls[0].url).searchParams.get('Modality'), 'CR,DX');

  const b = scripted(() => new Response(null, { status: 204 }));
  const basic = new DicomWebClient({ url: 'http://pacs.test/dicom-web', auth: { username: 'u', password: 'p:w' }, fetch: b.fetch });
  for await (const _ of basic.searchSeries({})) assert.fail('204 means no match');
  assert.equal(b.calls[0].headers.authorization, `Basic ${Buffer.from('u:p:w').toString('base64')}`);
});

test('errors name the request and what to check, never the UIDs; timeouts and aborts stop a request', async () => {
  const denied = new DicomWebClient({ url: 'http://pacs.test/dicom-web', fetch: scripted(() => new Response('no', { status: 401, statusText: 'Unauthorized' })).fetch });
  await assert.rejects(denied.retrieveInstance('1.2.3', '1.2.3.4', '1.2.3.4.5'), (e: Error) => e instanceof PacsError && /instance retrieval failed: HTTP 401.*credentials/.test(e.message) && !e.message.includes('1.2.3'));
  // AbortSignal.timeout's timer does not hold the event loop open (a real socket would)
  const keepAlive = setInterval(() => {}, 1000);
  const slow = scripted((_url, init) => new Promise<Response>((_resolve, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason))));
  const c = new DicomWebClient({ url: 'http://pacs.test/dicom-web', timeoutMs: 50, fetch: slow.fetch });
  await assert.rejects(c.store('1.2', [new Uint8Array(4)]), /store \(STOW-RS\) timed out after 50 ms/);
  const stop = new AbortController();
  const pending = new DicomWebClient({ url: 'http://pacs.test/dicom-web', fetch: slow.fetch }).searchSeries({}, stop.signal).next();
  stop.abort(new Error('stopped by the user'));
  await assert.rejects(pending, /stopped by the user/);
  clearInterval(keepAlive);
  assert.throws(() => new DicomWebClient({ url: 'ftp://pacs' }), /must start with http/);
});

test('WADO-RS asks for the stored transfer syntax and falls back when the server refuses it', async () => {
  const file = new Uint8Array([1, 2, 3, 4, 5]);
  const s = scripted((_url, init) => {
    const accept = (init.headers as Record<string, string>).accept;
    if (accept.includes('transfer-syntax=*')) return new Response('', { status: 406 });
    const { body, contentType } = buildMultipart([file], 'application/dicom');
    return new Response(new Uint8Array(body), { headers: { 'content-type': contentType } });
  });
  const got = await new DicomWebClient({ url: 'http://pacs.test/dicom-web', fetch: s.fetch }).retrieveInstance('1.2', '1.2.3', '1.2.3.4');
  assert.deepEqual([...got], [...file]);
  assert.equal(s.calls.length, 2);
  assert.equal(new URL(s.calls[1].url).pathname, '/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4');
});

test('STOW-RS reports stored and failed instances', async () => {
  const s = scripted(() => json({
    '00081199': { vr: 'SQ', Value: [{ '00081155': { vr: 'UI', Value: ['1.1'] } }] },
    '00081198': { vr: 'SQ', Value: [{ '00081155': { vr: 'UI', Value: ['1.2'] }, '00081197': { vr: 'US', Value: [272] } }] },
  }, 202));
  const r = await new DicomWebClient({ url: 'http://pacs.test/dicom-web', fetch: s.fetch }).store('9.9', [new Uint8Array(2), new Uint8Array(2)]);
  assert.deepEqual(r, { stored: ['1.1'], failed: [{ sopInstanceUid: '1.2', reason: 272 }] });
  assert.equal(s.calls[0].method, 'POST');
  assert.match(s.calls[0].headers['content-type'], /^multipart\/related; type="application\/dicom"; boundary=/);
});

test('multipart/related: quoted boundaries, preambles, empty headers; truncated bodies are errors', () => {
  const parts = [new Uint8Array([0x0d, 0x0a, 0x2d, 0x2d]), new Uint8Array(1000).fill(7), new Uint8Array(0)];
  const { body, contentType } = buildMultipart(parts, 'application/dicom');
  assert.deepEqual(parseMultipart(body, contentType).map((p) => [...p.body]), parts.map((p) => [...p]));
  assert.equal(contentTypeParam('multipart/related; type="application/dicom"; boundary="a b;c"', 'boundary'), 'a b;c');
  const handmade = Buffer.from('preamble text\r\n--XYZ\r\nContent-Type: application/dicom\r\n\r\nONE\r\n--XYZ\r\n\r\nTWO\r\n--XYZ--\r\nepilogue');
  const got = parseMultipart(handmade, 'multipart/related; boundary="XYZ"');
  assert.deepEqual(got.map((p) => Buffer.from(p.body).toString()), ['ONE', 'TWO']);
  assert.equal(got[0].headers['content-type'], 'application/dicom');
  assert.throws(() => parseMultipart(body.subarray(0, body.length - 40), contentType), /truncated/);
  assert.throws(() => parseMultipart(body, 'application/dicom'), /expected a multipart\/related answer/);
  assert.throws(() => parseMultipart(body, 'multipart/related; type="application/dicom"'), /no boundary/);
});

test('the watch state keeps hashed references only, survives reopening, and gives up after repeated failures', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dc-watch-state-'));
  try {
    const path = join(dir, 'state.json');
    const s = await WatchState.open(path, '20240101');
    await s.markDone('aaaa', 'analysed');
    for (let i = 0; i < 3; i++) await s.markFailed('bbbb');
    const again = await WatchState.open(path, '19990101');
    assert.equal(again.since, '20240101', 'the stored bound wins');
    assert.ok(again.isDone('aaaa'));
    assert.ok(again.isDone('bbbb'), 'given up after 3 attempts');
    assert.ok(!again.isDone('cccc'));
    assert.equal(JSON.parse(await readFile(path, 'utf8')).format, 'deep-covid-pacs-watch');
    await writeFile(path, '{ not json');
    await assert.rejects(WatchState.open(path, '20240101'), /not JSON: move it away/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
