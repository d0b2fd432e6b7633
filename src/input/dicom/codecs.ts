// Transfer syntax -> decoder. The WASM codecs are loaded lazily, once per process; a codec
// whose module threw is re-instantiated on next use (an aborted Emscripten module is unusable).
// The same code runs in Node and in the client page: where the codecs come from is runtime.ts's.
import { decodeRle } from './rle.js';
import { decodeJpeg12 } from './jpeg12.js';
import { readCodestreamSize, type CodestreamKind, type CodestreamSize } from './codestream.js';
import { codecFactory, losslessDecoder } from './runtime.js';
import type { LosslessDecoderClass, WasmCodec, WasmDecoder, WasmModule } from './runtime-types.js';

/** A decoded frame: samples as little-endian bytes, `bytesPerSample` each. */
export interface DecodedFrame {
  readonly width: number;
  readonly height: number;
  readonly components: number;
  readonly bytesPerSample: number;
  readonly data: Uint8Array;
}

/** What the decoder needs from the header. */
export interface FrameSpec {
  readonly rows: number;
  readonly columns: number;
  readonly bitsAllocated: number;
}

type CodecKind = 'jpeg8' | 'jpeg12' | 'jpeg-lossless' | 'jpeg-ls' | 'j2k' | 'htj2k' | 'rle';

const SYNTAXES: Record<string, { name: string; codec: CodecKind }> = {
  '1.2.840.10008.1.2.4.50': { name: 'JPEG Baseline', codec: 'jpeg8' },
  '1.2.840.10008.1.2.4.51': { name: 'JPEG Extended (12-bit)', codec: 'jpeg12' },
  '1.2.840.10008.1.2.4.57': { name: 'JPEG Lossless', codec: 'jpeg-lossless' },
  '1.2.840.10008.1.2.4.70': { name: 'JPEG Lossless SV1', codec: 'jpeg-lossless' },
  '1.2.840.10008.1.2.4.80': { name: 'JPEG-LS Lossless', codec: 'jpeg-ls' },
  '1.2.840.10008.1.2.4.81': { name: 'JPEG-LS Near-Lossless', codec: 'jpeg-ls' },
  '1.2.840.10008.1.2.4.90': { name: 'JPEG 2000 Lossless', codec: 'j2k' },
  '1.2.840.10008.1.2.4.91': { name: 'JPEG 2000', codec: 'j2k' },
  '1.2.840.10008.1.2.4.201': { name: 'HTJ2K Lossless', codec: 'htj2k' },
  '1.2.840.10008.1.2.4.202': { name: 'HTJ2K Lossless RPCL', codec: 'htj2k' },
  '1.2.840.10008.1.2.4.203': { name: 'HTJ2K', codec: 'htj2k' },
  '1.2.840.10008.1.2.5': { name: 'RLE Lossless', codec: 'rle' },
};

/** True when `ts` is an encapsulated syntax this reader can decode. */
export function isSupportedCompressed(ts: string): boolean {
  return ts in SYNTAXES;
}

/** Human name of a compressed transfer syntax (for messages and meta). */
export function compressedSyntaxName(ts: string): string | undefined {
  return SYNTAXES[ts]?.name;
}

const WASM: Record<WasmCodec, { cls: string }> = {
  jpeg8: { cls: 'JPEGDecoder' },
  'jpeg-ls': { cls: 'JpegLSDecoder' },
  j2k: { cls: 'J2KDecoder' },
  htj2k: { cls: 'HTJ2KDecoder' },
};
const modules = new Map<string, Promise<WasmModule>>();

function loadWasm(kind: WasmCodec): Promise<WasmModule> {
  let p = modules.get(kind);
  if (!p) {
    const { factory, options } = codecFactory(kind);
    // Silence Emscripten's own console output; errors surface as exceptions.
    p = factory({ ...options, print: () => {}, printErr: () => {} });
    modules.set(kind, p);
    p.catch(() => modules.delete(kind));
  }
  return p;
}

async function decodeWasm(kind: WasmCodec, frame: Uint8Array): Promise<DecodedFrame> {
  const mod = await loadWasm(kind);
  let decoder: WasmDecoder | undefined;
  try {
    decoder = new mod[WASM[kind].cls]();
    decoder.getEncodedBuffer(frame.length).set(frame);
    decoder.decode();
    const info = decoder.getFrameInfo();
    const out = decoder.getDecodedBuffer();
    const data = new Uint8Array(out.length);
    data.set(out);
    return { width: info.width, height: info.height, components: info.componentCount, bytesPerSample: info.bitsPerSample > 8 ? 2 : 1, data };
  } catch (err) {
    modules.delete(kind);
    throw err instanceof Error ? err : new Error(`${WASM[kind].cls} failed (${String(err)})`);
  } finally {
    try {
      decoder?.delete();
    } catch {
      // the module may be aborted; it is dropped above
    }
  }
}

/** Which codestream family a compressed syntax holds, for reading its declared size; null for RLE. */
export function codestreamKind(ts: string): CodestreamKind | null {
  const codec = SYNTAXES[ts]?.codec;
  if (codec === 'jpeg-ls') return 'jpeg-ls';
  if (codec === 'j2k' || codec === 'htj2k') return 'j2k';
  if (codec === 'jpeg8' || codec === 'jpeg12' || codec === 'jpeg-lossless') return 'jpeg';
  return null;
}

/**
 * Decodes one encapsulated frame. The caller has checked the codestream's declared size against
 * the header (readCodestreamSize) before, and checks the result's size after (some codecs return
 * an empty frame instead of throwing). Throws Error with the codec's reason.
 */
export async function decodeFrame(ts: string, frame: Uint8Array, spec: FrameSpec): Promise<DecodedFrame> {
  const codec = SYNTAXES[ts]?.codec;
  const n = spec.rows * spec.columns;
  switch (codec) {
    case 'rle': {
      const bps = spec.bitsAllocated > 8 ? 2 : 1;
      return { width: spec.columns, height: spec.rows, components: 1, bytesPerSample: bps, data: decodeRle(frame, n, bps) };
    }
    case 'jpeg8':
    case 'jpeg12':
    case 'jpeg-lossless': {
      const sof = readCodestreamSize('jpeg', frame);
      if (sof.sof === 0xc3 || sof.sof === 0xc7) return decodeLossless(frame, sof);
      if (sof.precision <= 8) return decodeWasm('jpeg8', frame);
      if (sof.precision === 12 && (sof.sof === 0xc1 || sof.sof === 0xc0)) return decodeJpeg12(frame);
      throw new Error(`JPEG process SOF${sof.sof - 0xc0} with ${sof.precision}-bit precision is not supported`);
    }
    case 'jpeg-ls':
      return decodeWasm('jpeg-ls', frame);
    case 'j2k':
      return decodeWasm('j2k', frame);
    case 'htj2k':
      return decodeWasm('htj2k', frame);
    default:
      throw new Error(`transfer syntax ${ts} has no decoder`);
  }
}

let LosslessCtor: LosslessDecoderClass | undefined;

function decodeLossless(frame: Uint8Array, sof: CodestreamSize): DecodedFrame {
  LosslessCtor ??= losslessDecoder();
  const bps = sof.precision > 8 ? 2 : 1;
  const out = new LosslessCtor().decode(frame.buffer as ArrayBuffer, frame.byteOffset, frame.length, bps);
  const data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  return { width: sof.width, height: sof.height, components: sof.components, bytesPerSample: bps, data };
}
