/**
 * The heatmap overlay as a Secondary Capture image with the result burnt in under it, for
 * viewers that do not show structured reports. RGB, uncompressed, referencing the source image.
 */
import sharp from 'sharp';
import { fontsAvailable } from '../../explain/index.js';
import { writeP10, type Naturalized } from '../dicom-io.js';
import type { PacsModelInfo, PacsPrediction, SourceHeader } from '../types.js';
import { commonAttributes, resultUids, type ResultObject } from './common.js';
import { captionLines } from './wording.js';

export const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';

/** Layout of the captioned image: the overlay scaled to WIDTH, then the caption band. */
export const SC_LAYOUT = Object.freeze({ width: 640, fontSize: 14, lineHeight: 20, margin: 10, charsPerLine: 78 });

/** Splits text into lines of at most `n` characters at spaces. */
export function wrapText(line: string, n: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const word of line.split(' ')) {
    if (cur && cur.length + 1 + word.length > n) {
      out.push(cur);
      cur = word;
    } else cur = cur ? `${cur} ${word}` : word;
  }
  if (cur) out.push(cur);
  return out;
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** The overlay with the caption burnt in, as raw RGB. */
export async function captionedOverlay(overlayPng: Uint8Array, lines: string[]): Promise<{ rgb: Buffer; width: number; height: number }> {
  const L = SC_LAYOUT;
  const picture = await sharp(overlayPng).removeAlpha().resize({ width: L.width, kernel: 'cubic' }).png().toBuffer({ resolveWithObject: true });
  const wrapped = lines.flatMap((l) => wrapText(l, L.charsPerLine));
  const band = 2 * L.margin + wrapped.length * L.lineHeight;
  const width = L.width;
  const height = picture.info.height + band;
  const texts = wrapped.map((l, i) => `<text x="${L.margin}" y="${picture.info.height + L.margin + (i + 0.8) * L.lineHeight}">${xmlEscape(l)}</text>`).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><g font-family="DejaVu Sans, Lato, sans-serif" font-size="${L.fontSize}" fill="#ffffff">${texts}</g></svg>`;
  const rgb = await sharp({ create: { width, height, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite([{ input: picture.data, top: 0, left: 0 }, { input: Buffer.from(svg), top: 0, left: 0 }])
    .removeAlpha()
    .raw()
    .toBuffer();
  return { rgb, width, height };
}

/**
 * Builds the captioned heatmap of one scored image; null when there is nothing to show (the
 * image was refused or the backbone has no feature map) or no font is installed to write the
 * caption with (an uncaptioned heatmap could be mistaken for a finding).
 */
export async function buildSecondaryCapture(src: SourceHeader, pred: PacsPrediction, model: PacsModelInfo, now: Date): Promise<ResultObject | null> {
  if (!pred.score?.overlayPng || !(await fontsAvailable())) return null;
  const lines = captionLines(pred, model);
  const { rgb, width, height } = await captionedOverlay(pred.score.overlayPng, lines);
  const { series, instance } = resultUids(src, 'sc', model);
  const dataset: Naturalized = {
    ...commonAttributes(src, 'sc', SECONDARY_CAPTURE, model, now),
    Modality: 'OT',
    ConversionType: 'WSD',
    ImageType: ['DERIVED', 'SECONDARY'],
    PatientOrientation: '',
    DerivationDescription: `deep-covid ${pred.score.overlayMethod} blended over the model's centre crop, with the result written underneath`,
    SourceImageSequence: [{
      ReferencedSOPClassUID: src.sopClassUid,
      ReferencedSOPInstanceUID: src.sopInstanceUid,
      PurposeOfReferenceCodeSequence: [{ CodeValue: '121322', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Source image for image processing operation' }],
    }],
    BurnedInAnnotation: 'YES',
    LossyImageCompression: '00',
    ImageComments: lines.join('\n'),
    SamplesPerPixel: 3,
    PhotometricInterpretation: 'RGB',
    PlanarConfiguration: 0,
    Rows: height,
    Columns: width,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: [rgb.buffer.slice(rgb.byteOffset, rgb.byteOffset + rgb.byteLength)],
    _vrMap: { PixelData: 'OB' },
  };
  return { kind: 'sc', sopClassUid: SECONDARY_CAPTURE, sopInstanceUid: instance, seriesInstanceUid: series, studyInstanceUid: src.studyInstanceUid, dataset, bytes: writeP10(dataset) };
}
