// Sequential Huffman JPEG decoder (SOF0/SOF1) for single-component 12-bit images, written because
// no packaged decoder reads 12-bit JPEG correctly in Node: libjpeg-turbo-8bit is 8-bit only and the
// cornerstone JS decoder reads ~15 grey levels high. The inverse DCT is IJG's jidctint.c ("islow",
// CONST_BITS 13, PASS1_BITS 1 for 12-bit samples) with its range-limit table, so the output matches
// GDCM and dcmtk (both IJG-based) bit for bit. Reading past the scan data throws: never half an image.
import type { DecodedFrame } from './codecs.js';

const ZIGZAG = new Int32Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
  28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
  54, 47, 55, 62, 63,
]);

interface Huffman {
  maxcode: Int32Array; // by code length 1..16, -1 when no code
  valptr: Int32Array;
  mincode: Int32Array;
  values: Uint8Array;
}

function buildHuffman(counts: Uint8Array, values: Uint8Array): Huffman {
  const maxcode = new Int32Array(18).fill(-1);
  const valptr = new Int32Array(17);
  const mincode = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let l = 1; l <= 16; l++) {
    const n = counts[l - 1];
    if (n) {
      valptr[l] = k;
      mincode[l] = code;
      code += n;
      k += n;
      maxcode[l] = code - 1;
    }
    code <<= 1;
  }
  return { maxcode, valptr, mincode, values };
}

/** Decodes a 12-bit (or 8-bit) single-component sequential Huffman JPEG to 16-bit LE samples. */
export function decodeJpeg12(b: Uint8Array): DecodedFrame {
  const qt: Int32Array[] = [];
  const dcTables: Huffman[] = [];
  const acTables: Huffman[] = [];
  let restart = 0;
  let width = 0;
  let height = 0;
  let precision = 0;
  let qIndex = 0;
  let compId = -1;
  let pos = 2;
  const u16 = (p: number): number => {
    if (p + 2 > b.length) throw new Error('JPEG codestream ends inside a marker segment');
    return (b[p] << 8) | b[p + 1];
  };
  if (u16(0) !== 0xffd8) throw new Error('not a JPEG codestream (no SOI marker)');
  for (;;) {
    if (pos + 4 > b.length) throw new Error('JPEG codestream ends before the scan');
    if (b[pos] !== 0xff) throw new Error(`JPEG marker expected at byte ${pos}`);
    const m = b[pos + 1];
    if (m === 0xff) {
      pos++;
      continue;
    }
    const len = u16(pos + 2);
    const seg = pos + 4;
    const end = pos + 2 + len;
    if (len < 2 || end > b.length) throw new Error('JPEG marker segment runs past the end of the codestream');
    if (m === 0xdb) {
      for (let p = seg; p < end;) {
        const pq = b[p] >> 4;
        const tq = b[p] & 15;
        p++;
        const q = new Int32Array(64);
        for (let i = 0; i < 64; i++, p += pq ? 2 : 1) q[ZIGZAG[i]] = pq ? u16(p) : b[p];
        if (p > end || tq > 3) throw new Error('bad JPEG quantisation table');
        qt[tq] = q;
      }
    } else if (m === 0xc4) {
      for (let p = seg; p < end;) {
        const tc = b[p] >> 4;
        const th = b[p] & 15;
        const counts = b.subarray(p + 1, p + 17);
        let total = 0;
        for (let i = 0; i < 16; i++) total += counts[i];
        if (p + 17 + total > end || th > 3 || counts.length < 16) throw new Error('bad JPEG Huffman table');
        const table = buildHuffman(counts, b.slice(p + 17, p + 17 + total));
        (tc === 0 ? dcTables : acTables)[th] = table;
        p += 17 + total;
      }
    } else if (m === 0xdd) {
      restart = u16(seg);
    } else if (m === 0xc0 || m === 0xc1) {
      precision = b[seg];
      height = u16(seg + 1);
      width = u16(seg + 3);
      if (b[seg + 5] !== 1) throw new Error(`JPEG with ${b[seg + 5]} components is not supported (greyscale only)`);
      compId = b[seg + 6];
      qIndex = b[seg + 8] & 3;
      if (precision !== 8 && precision !== 12) throw new Error(`JPEG precision ${precision} is not supported`);
    } else if (m >= 0xc2 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      throw new Error(`JPEG process SOF${m - 0xc0} is not supported (sequential Huffman only)`);
    } else if (m === 0xda) {
      if (!width || !height) throw new Error('JPEG scan before frame header');
      if (b[seg] !== 1 || b[seg + 1] !== compId) throw new Error('JPEG scan does not cover the single image component');
      const dc = dcTables[b[seg + 2] >> 4];
      const ac = acTables[b[seg + 2] & 15];
      const q = qt[qIndex];
      if (!dc || !ac || !q) throw new Error('JPEG scan refers to a missing Huffman or quantisation table');
      return { width, height, components: 1, bytesPerSample: 2, data: decodeScan(b, end, width, height, precision, q, dc, ac, restart) };
    } else if (m === 0xd9) {
      throw new Error('JPEG codestream ends (EOI) before any scan');
    }
    pos = end;
  }
}

function decodeScan(b: Uint8Array, start: number, width: number, height: number, precision: number, q: Int32Array,
  dc: Huffman, ac: Huffman, restart: number): Uint8Array {
  let pos = start;
  let bitBuf = 0;
  let bitCount = 0;
  const readBit = (): number => {
    if (bitCount === 0) {
      if (pos >= b.length) throw new Error('JPEG scan data is truncated');
      const byte = b[pos];
      if (byte === 0xff) {
        const next = b[pos + 1];
        if (next === 0x00) pos++;
        else throw new Error('JPEG scan data ends early (marker inside the entropy-coded data)');
      }
      pos++;
      bitBuf = byte;
      bitCount = 8;
    }
    bitCount--;
    return (bitBuf >> bitCount) & 1;
  };
  const receive = (s: number): number => {
    let v = 0;
    for (let i = 0; i < s; i++) v = (v << 1) | readBit();
    return v;
  };
  const decode = (h: Huffman): number => {
    let code = 0;
    for (let l = 1; l <= 16; l++) {
      code = (code << 1) | readBit();
      if (code <= h.maxcode[l]) return h.values[h.valptr[l] + code - h.mincode[l]];
    }
    throw new Error('bad Huffman code in JPEG scan data');
  };
  const extend = (v: number, s: number): number => (v < 1 << (s - 1) ? v - (1 << s) + 1 : v);

  const bw = Math.ceil(width / 8);
  const bh = Math.ceil(height / 8);
  const out = new Uint16Array(width * height);
  const coef = new Int32Array(64);
  const ws = new Float64Array(64);
  const block = new Uint16Array(64);
  const maxSample = (1 << precision) - 1;
  const center = 1 << (precision - 1);
  let pred = 0;
  let todo = restart;
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      if (restart && todo === 0) {
        bitCount = 0;
        while (pos + 1 < b.length && b[pos] === 0xff && b[pos + 1] === 0xff) pos++;
        if (pos + 1 >= b.length || b[pos] !== 0xff || (b[pos + 1] & 0xf8) !== 0xd0) throw new Error('JPEG restart marker missing');
        pos += 2;
        pred = 0;
        todo = restart;
      }
      todo--;
      coef.fill(0);
      const t = decode(dc);
      if (t > 16) throw new Error('bad DC coefficient in JPEG scan data');
      pred += t ? extend(receive(t), t) : 0;
      coef[0] = (pred << 16) >> 16; // IJG keeps the predictor as int, the coefficient as JCOEF (short)
      for (let k = 1; k < 64;) {
        const rs = decode(ac);
        const r = rs >> 4;
        const s = rs & 15;
        if (s) {
          k += r;
          if (k > 63) throw new Error('bad AC run in JPEG scan data');
          coef[ZIGZAG[k]] = (extend(receive(s), s) << 16) >> 16;
          k++;
        } else if (r === 15) {
          k += 16;
        } else {
          break;
        }
      }
      idctIslow(coef, q, ws, block, precision, maxSample, center);
      const y0 = by * 8;
      const x0 = bx * 8;
      for (let y = 0; y < 8 && y0 + y < height; y++) {
        const row = (y0 + y) * width + x0;
        for (let x = 0; x < 8 && x0 + x < width; x++) out[row + x] = block[y * 8 + x];
      }
    }
  }
  return new Uint8Array(out.buffer);
}

// IJG jidctint.c constants, CONST_BITS = 13.
const F0298 = 2446, F0390 = 3196, F0541 = 4433, F0765 = 6270, F0899 = 7373, F1175 = 9633, F1501 = 12299;
const F1847 = 15137, F1961 = 16069, F2053 = 16819, F2562 = 20995, F3072 = 25172;

/** IJG DESCALE with 64-bit-safe arithmetic: round half up, then arithmetic shift right by n. */
function descale(x: number, n: number): number {
  return Math.floor((x + 2 ** (n - 1)) / 2 ** n);
}

/** jidctint.c jpeg_idct_islow, including its post-IDCT range-limit table (wrap-around and all). */
function idctIslow(c: Int32Array, q: Int32Array, ws: Float64Array, out: Uint16Array, precision: number, maxSample: number, center: number): void {
  const CB = 13;
  const P1 = precision === 8 ? 2 : 1;
  for (let col = 0; col < 8; col++) {
    if (!c[8 + col] && !c[16 + col] && !c[24 + col] && !c[32 + col] && !c[40 + col] && !c[48 + col] && !c[56 + col]) {
      const dcval = c[col] * q[col] * 2 ** P1;
      for (let r = 0; r < 8; r++) ws[r * 8 + col] = dcval;
      continue;
    }
    let z2 = c[16 + col] * q[16 + col];
    let z3 = c[48 + col] * q[48 + col];
    let z1 = (z2 + z3) * F0541;
    let tmp2 = z1 - z3 * F1847;
    let tmp3 = z1 + z2 * F0765;
    z2 = c[col] * q[col];
    z3 = c[32 + col] * q[32 + col];
    let tmp0 = (z2 + z3) * 8192;
    let tmp1 = (z2 - z3) * 8192;
    const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
    tmp0 = c[56 + col] * q[56 + col];
    tmp1 = c[40 + col] * q[40 + col];
    tmp2 = c[24 + col] * q[24 + col];
    tmp3 = c[8 + col] * q[8 + col];
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * F1175;
    tmp0 *= F0298; tmp1 *= F2053; tmp2 *= F3072; tmp3 *= F1501;
    z1 *= -F0899; z2 *= -F2562; z3 *= -F1961; z4 *= -F0390;
    z3 += z5; z4 += z5;
    tmp0 += z1 + z3; tmp1 += z2 + z4; tmp2 += z2 + z3; tmp3 += z1 + z4;
    const sh = CB - P1;
    ws[col] = descale(tmp10 + tmp3, sh); ws[56 + col] = descale(tmp10 - tmp3, sh);
    ws[8 + col] = descale(tmp11 + tmp2, sh); ws[48 + col] = descale(tmp11 - tmp2, sh);
    ws[16 + col] = descale(tmp12 + tmp1, sh); ws[40 + col] = descale(tmp12 - tmp1, sh);
    ws[24 + col] = descale(tmp13 + tmp0, sh); ws[32 + col] = descale(tmp13 - tmp0, sh);
  }
  const sh = CB + P1 + 3;
  const mask = maxSample * 4 + 3;
  const limit = (v: number): number => {
    const i = descale(v, sh) & mask; // 32-bit & of an int-range value, as the C code does
    if (i < center) return center + i;
    if (i < 2 * (maxSample + 1)) return maxSample;
    if (i < 4 * (maxSample + 1) - center) return 0;
    return i - (4 * (maxSample + 1) - center);
  };
  for (let r = 0; r < 8; r++) {
    const w = r * 8;
    let z2 = ws[w + 2];
    let z3 = ws[w + 6];
    let z1 = (z2 + z3) * F0541;
    let tmp2 = z1 - z3 * F1847;
    let tmp3 = z1 + z2 * F0765;
    let tmp0 = (ws[w] + ws[w + 4]) * 8192;
    let tmp1 = (ws[w] - ws[w + 4]) * 8192;
    const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
    tmp0 = ws[w + 7]; tmp1 = ws[w + 5]; tmp2 = ws[w + 3]; tmp3 = ws[w + 1];
    z1 = tmp0 + tmp3; z2 = tmp1 + tmp2; z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * F1175;
    tmp0 *= F0298; tmp1 *= F2053; tmp2 *= F3072; tmp3 *= F1501;
    z1 *= -F0899; z2 *= -F2562; z3 *= -F1961; z4 *= -F0390;
    z3 += z5; z4 += z5;
    tmp0 += z1 + z3; tmp1 += z2 + z4; tmp2 += z2 + z3; tmp3 += z1 + z4;
    out[w] = limit(tmp10 + tmp3); out[w + 7] = limit(tmp10 - tmp3);
    out[w + 1] = limit(tmp11 + tmp2); out[w + 6] = limit(tmp11 - tmp2);
    out[w + 2] = limit(tmp12 + tmp1); out[w + 5] = limit(tmp12 - tmp1);
    out[w + 3] = limit(tmp13 + tmp0); out[w + 4] = limit(tmp13 - tmp0);
  }
}
