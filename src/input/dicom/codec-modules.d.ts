// Types of the DICOM reader's untyped dependencies as runtime.browser.ts imports them.
// The cornerstone codecs ship no types: each of their entries is an Emscripten module factory.
declare module '@cornerstonejs/*' {
  const factory: import('./runtime-types.js').CodecModuleFactory;
  export default factory;
}
// jpeg-lossless-decoder-js has types, but none Node16 resolution finds for its CommonJS entry
declare module 'jpeg-lossless-decoder-js' {
  export const Decoder: import('./runtime-types.js').LosslessDecoderClass;
}
