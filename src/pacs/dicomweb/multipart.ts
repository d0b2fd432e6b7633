/**
 * multipart/related bodies (RFC 2387) as DICOMweb uses them: WADO-RS answers with one part per
 * instance, STOW-RS takes one part per instance. Parts are views into the body, not copies.
 */
import { randomBytes } from 'node:crypto';
import { PacsError } from '../../errors.js';

/** One body part: its headers (lower-case names) and content. */
export interface Part {
  headers: Record<string, string>;
  body: Uint8Array;
}

/** A parameter of a Content-Type header (e.g. boundary), unquoted; null when absent. */
export function contentTypeParam(contentType: string, name: string): string | null {
  const re = new RegExp(`;\\s*${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, 'i');
  const m = re.exec(contentType);
  if (!m) return null;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2];
}

/** Splits a multipart body into its parts, checking the framing. */
export function parseMultipart(body: Uint8Array, contentType: string): Part[] {
  if (!/^multipart\/related\b/i.test(contentType.trim())) throw new PacsError(`expected a multipart/related answer, got "${contentType.split(';')[0]}"`);
  const boundary = contentTypeParam(contentType, 'boundary');
  if (!boundary) throw new PacsError('the multipart/related answer has no boundary parameter');
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const dash = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  // the first boundary may open the body directly (no preamble, no leading CRLF)
  let pos = buf.subarray(0, dash.length).equals(dash) ? 0 : buf.indexOf(delimiter);
  if (pos < 0) throw new PacsError('the multipart/related answer contains no part (boundary not found)');
  pos += pos === 0 && buf[0] === 0x2d ? dash.length : delimiter.length;
  const parts: Part[] = [];
  for (;;) {
    // after a boundary: "--" closes the body, otherwise optional whitespace and CRLF start a part
    if (buf[pos] === 0x2d && buf[pos + 1] === 0x2d) return parts;
    const lineEnd = buf.indexOf('\r\n', pos);
    if (lineEnd < 0) throw new PacsError('the multipart/related answer is truncated after a boundary');
    const headerEnd = buf.indexOf('\r\n\r\n', lineEnd);
    const headers: Record<string, string> = {};
    let bodyStart: number;
    if (buf.subarray(lineEnd, lineEnd + 4).equals(Buffer.from('\r\n\r\n'))) {
      bodyStart = lineEnd + 4; // a part with no headers
    } else {
      if (headerEnd < 0) throw new PacsError('the multipart/related answer is truncated inside part headers');
      for (const line of buf.subarray(lineEnd + 2, headerEnd).toString('latin1').split('\r\n')) {
        const c = line.indexOf(':');
        if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
      }
      bodyStart = headerEnd + 4;
    }
    const next = buf.indexOf(delimiter, bodyStart);
    if (next < 0) throw new PacsError('the multipart/related answer is truncated: a part has no closing boundary');
    parts.push({ headers, body: body.subarray(bodyStart, next) });
    pos = next + delimiter.length;
  }
}

/** A multipart/related body of `parts`, all of one media type. */
export function buildMultipart(parts: Uint8Array[], type: string): { body: Buffer; contentType: string } {
  const boundary = `deep-covid-${randomBytes(12).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: ${type}\r\nContent-Length: ${p.byteLength}\r\n\r\n`), Buffer.from(p.buffer, p.byteOffset, p.byteLength), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/related; type="${type}"; boundary=${boundary}` };
}
