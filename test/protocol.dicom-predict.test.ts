// `predict` on chest DICOMs: the same radiograph stored as MONOCHROME2 and stored inverted as
// MONOCHROME1 must get the same probability (the reader inverts MONOCHROME1 for display).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dcmjs from 'dcmjs';
import { decodeDicom } from '../src/input/dicom/index.js';
import { FeatureCache } from '../src/features/cache.js';
import { trainRun } from '../src/protocol/train-run.js';
import { predictFiles } from '../src/tasks/predict.js';
import { makeTinyDataset } from './helpers/tiny-dataset.js';
import { SHARED, skipNoShared } from './helpers/shared.js';

const DICOM_DIR = join(SHARED, 'data', 'dicom');
let work: string;
let data: string;

/** An uncompressed 8-bit single-frame chest X-ray DICOM with the given pixels and photometric interpretation. */
function writeDicom(pixels: Uint8Array, rows: number, columns: number, photometric: 'MONOCHROME1' | 'MONOCHROME2'): Uint8Array {
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const uid = '1.2.826.0.1.3680043.8.498.1';
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: '1.2.840.10008.5.1.4.1.1.1',
    MediaStorageSOPInstanceUID: uid,
    TransferSyntaxUID: '1.2.840.10008.1.2.1',
    ImplementationClassUID: uid,
  }));
  dict.dict = DicomMetaDictionary.denaturalizeDataset({
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.1', SOPInstanceUID: uid, Modality: 'CR', ViewPosition: 'PA',
    Rows: rows, Columns: columns, SamplesPerPixel: 1, PhotometricInterpretation: photometric,
    BitsAllocated: 8, BitsStored: 8, HighBit: 7, PixelRepresentation: 0,
    PixelData: [pixels.slice().buffer],
  });
  return new Uint8Array(dict.write());
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dc-dicom-predict-'));
  data = await makeTinyDataset({ train: [10, 14], test: [4, 4], perPatient: 1, manifest: true, seed: 5 });
});
after(async () => {
  await rm(work, { recursive: true, force: true });
  await rm(data, { recursive: true, force: true });
});

test('the same chest X-ray stored as MONOCHROME2 and inverted as MONOCHROME1 gets the same P(COVID)', { skip: skipNoShared }, async () => {
  const cache = new FeatureCache(join(work, 'cache'));
  const run = join(work, 'run');
  await trainRun({ data, out: run, config: { backbone: 'squeezenet1_1', epochs: 4, augmentFactor: 1 }, cache });
  const rsnaPath = join(DICOM_DIR, 'rsna-monochrome2-jpeg-baseline.dcm');
  const rsna = await decodeDicom(await readFile(rsnaPath), rsnaPath, { maxPixels: 1e8 });
  const { rows, columns } = rsna.header;
  const stored = Uint8Array.from(rsna.raw as ArrayLike<number>);
  const inverted = stored.map((v) => 255 - v);
  const m2 = join(work, 'chest-monochrome2.dcm');
  const m1 = join(work, 'chest-stored-inverted-monochrome1.dcm');
  await writeFile(m2, writeDicom(stored, rows, columns, 'MONOCHROME2'));
  await writeFile(m1, writeDicom(inverted, rows, columns, 'MONOCHROME1'));
  const fake = join(DICOM_DIR, 'fake-monochrome1.dcm');
  // the tiny run is trained on synthetic images, so its input gate would refuse real films: this
  // test is about the DICOM reader's photometric handling, so it scores with the gate off
  const res = await predictFiles({ run, files: [rsnaPath, m2, m1, fake], cache, gate: false });
  const p = res.map((r) => ('probability' in r ? r.probability : NaN));
  assert.ok(p.every((v) => Number.isFinite(v)), JSON.stringify(res));
  assert.equal(p[1], p[0], 'the JPEG original and its uncompressed copy');
  // min-max display rounding can differ by one grey level at exact halves after inversion
  assert.ok(Math.abs(p[2] - p[0]) < 1e-3, `stored inverted as MONOCHROME1: ${p[2]} vs ${p[0]}`);
  // fake-monochrome1.dcm keeps the original pixels but declares MONOCHROME1, so it displays as the
  // negative (../shared/data/dicom/README.md): a different picture, hence (in general) a different P(COVID)
  assert.notEqual(p[3], p[0]);
});
