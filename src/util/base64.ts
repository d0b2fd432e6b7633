/**
 * Base64 without Node's Buffer, so modules shared with the client page (the gate's gate.json
 * reader) run in the browser too. Standard alphabet with padding, as Buffer writes it.
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const VALUES = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUES[ALPHABET.charCodeAt(i)] = i;

/** Encodes bytes as base64 (with `=` padding). */
export function toBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  let chunk = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i], b = bytes[i + 1] ?? 0, c = bytes[i + 2] ?? 0;
    const n = (a << 16) | (b << 8) | c;
    chunk += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + (i + 1 < bytes.length ? ALPHABET[(n >> 6) & 63] : '=') + (i + 2 < bytes.length ? ALPHABET[n & 63] : '=');
    // join in pieces: one long string built by += over megabytes is slow in some engines
    if (chunk.length >= 1 << 16) { parts.push(chunk); chunk = ''; }
  }
  parts.push(chunk);
  return parts.join('');
}

/**
 * Decodes base64 (padding optional, whitespace ignored); null when the text holds any other
 * character or a dangling single character, so a caller can say which field is damaged.
 */
export function fromBase64(text: string): Uint8Array | null {
  const s = text.replace(/[\s=]+$/g, '').replace(/\s+/g, '');
  if (s.length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    let n = 0;
    const k = Math.min(4, s.length - i);
    for (let j = 0; j < 4; j++) {
      const code = j < k ? s.charCodeAt(i + j) : 65; // 'A' (0) for the missing tail
      const v = code < 128 ? VALUES[code] : -1;
      if (v < 0) return null;
      n = (n << 6) | v;
    }
    out[o++] = n >> 16;
    if (k > 2) out[o++] = (n >> 8) & 255;
    if (k > 3) out[o++] = n & 255;
  }
  return out;
}
