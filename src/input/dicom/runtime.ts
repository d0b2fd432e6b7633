/**
 * What the DICOM reader needs from its platform, in Node: the dicom-parser library, a streaming
 * raw inflater, the JPEG Lossless decoder and the cornerstone WASM codecs' module factories.
 * The client page's bundle replaces this file by runtime.browser.ts (scripts/build-web.mjs swaps
 * any `X.js` import for a sibling `X.browser.ts`), so every other file of the reader is the same
 * code in Node and in the browser.
 */
import { createRequire } from 'node:module';
import { createInflateRaw } from 'node:zlib';
import type { CodecModuleFactory, LosslessDecoderClass, WasmCodec } from './runtime-types.js';

const require = createRequire(import.meta.url);

export const dicomParser = require('dicom-parser') as typeof import('dicom-parser');

/**
 * One streaming pass of raw inflate over `deflated`: `sink` gets each chunk and returns false to
 * stop early. Rejects with the inflater's error (its message says "unexpected end" when truncated).
 */
export function inflateRawPass(deflated: Uint8Array, sink: (chunk: Uint8Array) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const z = createInflateRaw({ chunkSize: 1 << 20 });
    let stopped = false;
    z.on('data', (chunk: Buffer) => {
      if (!stopped && !sink(chunk)) {
        stopped = true;
        z.destroy();
        resolve();
      }
    });
    z.on('error', (err) => (stopped ? resolve() : reject(err)));
    z.on('end', () => resolve());
    z.end(deflated);
  });
}

/** jpeg-lossless-decoder-js's Decoder (loaded on first use). */
export function losslessDecoder(): LosslessDecoderClass {
  return (require('jpeg-lossless-decoder-js') as { Decoder: LosslessDecoderClass }).Decoder;
}

const FACTORIES: Record<WasmCodec, string> = {
  jpeg8: '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs',
  'jpeg-ls': '@cornerstonejs/codec-charls/decodewasmjs',
  j2k: '@cornerstonejs/codec-openjpeg/decodewasmjs',
  htj2k: '@cornerstonejs/codec-openjph/wasmjs',
};

/** The Emscripten module factory of a codec and the options it is instantiated with (Node finds its .wasm next to it). */
export function codecFactory(kind: WasmCodec): { factory: CodecModuleFactory; options: object } {
  return { factory: require(FACTORIES[kind]) as CodecModuleFactory, options: {} };
}
