/**
 * The pipeline's working image: one 8-bit grey channel, row-major. Chest X-rays are grey;
 * every decoder (PNG/JPEG/TIFF/WebP through sharp, DICOM through its own reader) produces
 * this, and preprocessing replicates it to the 3 channels ImageNet backbones expect.
 */
export interface GreyImage {
  readonly width: number;
  readonly height: number;
  /** width * height bytes, 0 = black, 255 = white (display orientation: bone is bright). */
  readonly data: Uint8Array;
}

/** Formats deep-covid reads, detected from content. */
export type ImageFormat = 'png' | 'jpeg' | 'tiff' | 'webp' | 'dicom';

/** A decoded image with where it came from. */
export interface LoadedImage extends GreyImage {
  readonly format: ImageFormat;
  /** Bits per sample of the stored image (8 or 16 for PNG; BitsStored for DICOM). */
  readonly bitDepth: number;
  /** DICOM-only metadata, never patient identifiers. */
  readonly meta?: Readonly<Record<string, string | number>>;
}
