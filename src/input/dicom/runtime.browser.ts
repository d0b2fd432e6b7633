/**
 * The DICOM reader's platform in the browser (the client page's bundle uses this file instead of
 * runtime.ts; see there). The codecs' .wasm files are fetched from the page's own `codecs/`
 * folder, which export-web fills (CODEC_WASM_FILES), never from anywhere else.
 */
import jpeg8 from '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs';
import charls from '@cornerstonejs/codec-charls/decodewasmjs';
import openjpeg from '@cornerstonejs/codec-openjpeg/decodewasmjs';
import openjph from '@cornerstonejs/codec-openjph/wasmjs';
import dicomParserLib from 'dicom-parser';
import { Decoder } from 'jpeg-lossless-decoder-js';
import type { CodecModuleFactory, LosslessDecoderClass, WasmCodec } from './runtime-types.js';

export const dicomParser = dicomParserLib;

/** Bytes after the deflate stream's end that are skipped, as Node's inflater skips them (a data set padded to even length). */
const MAX_TRAILING = 16;

/**
 * One streaming pass of raw inflate (DecompressionStream); see runtime.ts. Node's inflater stops
 * at the stream's end and ignores bytes after it; the browser's fails ("Junk found after end of
 * compressed data") and drops the last chunk. So on that error the pass goes on with the input one
 * byte shorter, handing `sink` only what it has not had yet.
 */
export async function inflateRawPass(deflated: Uint8Array, sink: (chunk: Uint8Array) => boolean): Promise<void> {
  let delivered = 0;
  for (let trim = 0; trim <= MAX_TRAILING && trim < deflated.length; trim++) {
    const stream = new Blob([deflated.subarray(0, deflated.length - trim) as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
    const reader = stream.getReader();
    let at = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        const fresh = value.subarray(Math.max(0, Math.min(value.length, delivered - at)));
        at += value.length;
        if (fresh.length === 0) continue;
        delivered += fresh.length;
        if (!sink(fresh)) return;
      }
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (/junk/i.test(msg)) continue;
      // Chromium says "...input was truncated"; the reader's messages test for Node's wording
      throw new Error(/truncat/i.test(msg) ? `unexpected end of file (${msg})` : msg);
    } finally {
      void reader.cancel().catch(() => {});
    }
  }
  throw new Error(`more than ${MAX_TRAILING} bytes follow the end of the deflated data`);
}

/** jpeg-lossless-decoder-js's Decoder. */
export function losslessDecoder(): LosslessDecoderClass {
  return Decoder;
}

const FACTORIES: Record<WasmCodec, CodecModuleFactory> = { jpeg8, 'jpeg-ls': charls, j2k: openjpeg, htj2k: openjph };

/** The codec's factory, told to fetch its .wasm from the page's codecs/ folder. */
export function codecFactory(kind: WasmCodec): { factory: CodecModuleFactory; options: object } {
  return { factory: FACTORIES[kind], options: { locateFile: (file: string) => new URL(`codecs/${file}`, document.baseURI).href } };
}
