// Types shared by runtime.ts (Node) and runtime.browser.ts (the client page): the platform hooks of the DICOM reader.

/** The cornerstone WASM codecs the reader uses. */
export type WasmCodec = 'jpeg8' | 'jpeg-ls' | 'j2k' | 'htj2k';

/** An Emscripten codec's decoder object. */
export interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned?: boolean };
  decode(): void;
  delete(): void;
}

/** An instantiated Emscripten codec module: decoder classes by name. */
export type WasmModule = Record<string, new () => WasmDecoder>;

/** An Emscripten module factory. */
export type CodecModuleFactory = (opts?: object) => Promise<WasmModule>;

/** jpeg-lossless-decoder-js's Decoder class. */
export type LosslessDecoderClass = new () => {
  decode(buffer: ArrayBuffer, offset: number, length: number, numBytes?: number): Uint8Array | Uint16Array;
};
