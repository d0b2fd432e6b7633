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

/** One streaming pass of raw inflate (DecompressionStream); see runtime.ts. */
export async function inflateRawPass(deflated: Uint8Array, sink: (chunk: Uint8Array) => boolean): Promise<void> {
  const stream = new Blob([deflated as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (!sink(value)) return;
    }
  } catch (err) {
    // Chromium says "...input was truncated"; the reader's messages test for Node's wording
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(/truncat|end of/i.test(msg) ? `unexpected end of file (${msg})` : msg);
  } finally {
    void reader.cancel().catch(() => {});
  }
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
