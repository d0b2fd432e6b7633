// The image size a compressed frame's own codestream declares, read from its markers before any
// codec runs. The DICOM header's Rows/Columns are what the pixel limit is checked against, but a
// codec decodes whatever its codestream says: a file whose header says 16x16 around a 12000x12000
// JPEG 2000 codestream would otherwise be decoded in full (gigabytes, seconds, a blocked server).
//   JPEG (SOF0-SOF15)      frame header: P, Y, X, Nf
//   JPEG-LS (SOF55 FFF7)   the same layout; Y or X of 0 means "see LSE marker ID 4" (ISO 14495-1 C.2.4.1.4)
//   JPEG 2000, HTJ2K       SIZ (FF51) right after SOC (FF4F): Xsiz-XOsiz by Ysiz-YOsiz, Csiz components,
//                          bare or inside a JP2 file's jp2c box

/** What a codestream says about its image, before decoding. */
export interface CodestreamSize {
  readonly width: number;
  readonly height: number;
  readonly components: number;
  /** Bits per sample of the first component. */
  readonly precision: number;
  /** The JPEG start-of-frame marker (0xC0-0xCF: the coding process); 0 for other codestreams. */
  readonly sof: number;
}

/** Which family of codestream a frame holds. */
export type CodestreamKind = 'jpeg' | 'jpeg-ls' | 'j2k';

/** Thrown when the markers that state the size are missing or cut off. */
export class CodestreamError extends Error {}

/** Reads the declared image size of a JPEG, JPEG-LS or JPEG 2000 / HTJ2K codestream. */
export function readCodestreamSize(kind: CodestreamKind, b: Uint8Array): CodestreamSize {
  return kind === 'j2k' ? readSiz(b) : readJpegFamily(kind, b);
}

function u16(b: Uint8Array, p: number): number {
  if (p + 2 > b.length) throw new CodestreamError(`the codestream ends at byte ${b.length}, inside a marker segment`);
  return (b[p] << 8) | b[p + 1];
}

function u32(b: Uint8Array, p: number): number {
  if (p + 4 > b.length) throw new CodestreamError(`the codestream ends at byte ${b.length}, inside a marker segment`);
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

/** JPEG and JPEG-LS: markers from SOI up to the start of scan. */
function readJpegFamily(kind: 'jpeg' | 'jpeg-ls', b: Uint8Array): CodestreamSize {
  if (u16(b, 0) !== 0xffd8) throw new CodestreamError('no start-of-image marker (FFD8)');
  let frame: { sof: number; precision: number; height: number; width: number; components: number } | null = null;
  let oversize: { height: number; width: number } | null = null;
  let pos = 2;
  for (;;) {
    if (pos + 2 > b.length) break;
    if (b[pos] !== 0xff) throw new CodestreamError(`a marker was expected at byte ${pos}`);
    const m = b[pos + 1];
    if (m === 0xff) {
      pos++; // fill byte
      continue;
    }
    if (m === 0xda || m === 0xd9) break; // start of scan, end of image
    const len = u16(b, pos + 2);
    if (len < 2) throw new CodestreamError(`marker segment FF${hex2(m)} at byte ${pos} has length ${len}`);
    const isSof = kind === 'jpeg' ? m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc : m === 0xf7;
    if (isSof && frame === null) {
      if (pos + 10 > b.length) throw new CodestreamError('the codestream ends inside its frame header');
      frame = { sof: m, precision: b[pos + 4], height: u16(b, pos + 5), width: u16(b, pos + 7), components: b[pos + 9] };
    } else if (kind === 'jpeg-ls' && m === 0xf8 && b[pos + 4] === 4) {
      // LSE ID 4: Wxy (bytes per dimension, 2..4), then Y and X in that many bytes each
      const wxy = b[pos + 5] ?? 0;
      if (wxy < 2 || wxy > 4) throw new CodestreamError(`JPEG-LS oversize-dimension marker has field width ${wxy}`);
      const read = (p: number): number => {
        if (p + wxy > b.length) throw new CodestreamError('the codestream ends inside its oversize-dimension marker');
        let v = 0;
        for (let i = 0; i < wxy; i++) v = v * 256 + b[p + i];
        return v;
      };
      oversize = { height: read(pos + 6), width: read(pos + 6 + wxy) };
    }
    pos += 2 + len;
  }
  const sofName = kind === 'jpeg' ? 'start-of-frame (SOFn)' : 'JPEG-LS start-of-frame (SOF55, FFF7)';
  if (!frame) throw new CodestreamError(`no ${sofName} marker before the scan data`);
  let { width, height } = frame;
  if (kind === 'jpeg-ls' && oversize) {
    if (height === 0) height = oversize.height;
    if (width === 0) width = oversize.width;
  }
  return { width, height, components: frame.components, precision: frame.precision, sof: kind === 'jpeg' ? frame.sof : 0 };
}

/** JPEG 2000 / HTJ2K: the SIZ segment that must follow SOC; a JP2 file is unwrapped to its jp2c box. */
function readSiz(b: Uint8Array): CodestreamSize {
  const cs = isJp2(b) ? jp2Codestream(b) : b;
  if (u16(cs, 0) !== 0xff4f) throw new CodestreamError('no JPEG 2000 start-of-codestream marker (FF4F)');
  if (u16(cs, 2) !== 0xff51) throw new CodestreamError('no JPEG 2000 image size marker (SIZ, FF51) after the start of the codestream');
  // Lsiz(2) Rsiz(2) Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz (4 each) Csiz(2) then Ssiz, XRsiz, YRsiz per component
  const x = u32(cs, 8);
  const y = u32(cs, 12);
  const x0 = u32(cs, 16);
  const y0 = u32(cs, 20);
  const components = u16(cs, 40);
  if (cs.length < 43) throw new CodestreamError('the codestream ends inside its image size marker');
  if (x <= x0 || y <= y0) throw new CodestreamError(`the image size marker (SIZ) gives an empty image (Xsiz ${x}, XOsiz ${x0}, Ysiz ${y}, YOsiz ${y0})`);
  return { width: x - x0, height: y - y0, components, precision: (cs[42] & 0x7f) + 1, sof: 0 };
}

function isJp2(b: Uint8Array): boolean {
  // signature box: length 12, type "jP  ", content 0D0A870A
  return b.length >= 12 && u32(b, 0) === 12 && u32(b, 4) === 0x6a502020 && u32(b, 8) === 0x0d0a870a;
}

/** The contiguous codestream box (jp2c) of a JP2 file. */
function jp2Codestream(b: Uint8Array): Uint8Array {
  let pos = 0;
  while (pos + 8 <= b.length) {
    let len = u32(b, pos);
    const type = u32(b, pos + 4);
    let header = 8;
    if (len === 1) {
      const hi = u32(b, pos + 8);
      len = hi * 2 ** 32 + u32(b, pos + 12);
      header = 16;
    } else if (len === 0) {
      len = b.length - pos;
    }
    if (len < header) throw new CodestreamError(`JP2 box at byte ${pos} has length ${len}`);
    if (type === 0x6a703263) return b.subarray(pos + header, Math.min(b.length, pos + len));
    pos += len;
  }
  throw new CodestreamError('a JP2 file without a contiguous codestream box (jp2c)');
}

function hex2(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0');
}
