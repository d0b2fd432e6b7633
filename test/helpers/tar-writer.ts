// A minimal ustar writer for tests (pax header for long names), to pack fixtures as npm does.
import { gzipSync } from 'node:zlib';

function header(name: string, size: number, type: string): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string, off: number) => h.set(new TextEncoder().encode(s), off);
  put(name.slice(0, 99), 0);
  put('0000644\0', 100);
  put('0000000\0', 108);
  put('0000000\0', 116);
  put(size.toString(8).padStart(11, '0') + '\0', 124);
  put('00000000000\0', 136);
  put('        ', 148);
  put(type, 156);
  put('ustar\0' + '00', 257);
  let sum = 0;
  for (const v of h) sum += v;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

function entry(name: string, data: Uint8Array, type = '0'): Uint8Array[] {
  const pad = new Uint8Array((512 - (data.length % 512)) % 512);
  return [header(name, data.length, type), data, pad];
}

/** Packs files into a .tgz (names over 99 bytes get a pax `path` record). */
export function tarGz(files: Map<string, Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, data] of files) {
    if (name.length > 99) {
      const body = ` path=${name}\n`;
      let len = body.length + 1; // the record's length counts its own digits
      while (len !== body.length + String(len).length) len = body.length + String(len).length;
      const rec = `${len}${body}`;
      parts.push(...entry('PaxHeader', new TextEncoder().encode(rec), 'x'));
    }
    parts.push(...entry(name, data));
  }
  parts.push(new Uint8Array(1024));
  return gzipSync(Buffer.concat(parts));
}
