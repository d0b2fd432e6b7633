// The DICOM results without a PACS: a chest film's structured report and captioned heatmap are
// valid for dcmtk (dsrdump, dcmdump), carry the same P(COVID) as `predict`, file into the source's
// study under UIDs that repeat for the same source and model; a refused image gets a report with
// the reasons and no probability; non-chest objects are skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import dcmjs from 'dcmjs';
import { predictFiles } from '../src/tasks/predict.js';
import {
  analyseInstance, buildSecondaryCapture, buildStructuredReport, chestFilmCheck, CODES, loadPacsModel, readSourceHeader, RESEARCH_NOTICE,
  type PacsModel, type PacsPrediction,
} from '../src/pacs/index.js';
import { CHEST_DICOM, DCMTK, DICOM_DIR, HIP_DICOM, readSr, relabelled, runTool, skipNoDcmtk, usePacsRun } from './helpers/orthanc.js';
import { skipNoShared } from './helpers/shared.js';

const skip = skipNoShared || skipNoDcmtk;
let model: PacsModel;

const pacs = usePacsRun('dc-pacs-results-', skip, {
  // the tiny run's training images are synthetic, so its gate refuses real films as out of
  // distribution (tested below): these tests look at the scored path with the gate off
  ready: async (f) => { model = await loadPacsModel(f.runDir, { gate: false }); },
  done: async () => { await model?.close(); },
});

async function dsrdump(bytes: Uint8Array, name: string) {
  const f = join(pacs.work, `${name}.sr.dcm`);
  await writeFile(f, bytes);
  return runTool(DCMTK.dsrdump!, ['-v', f]);
}

test('a chest film gives a structured report that dsrdump reads without errors, with the P(COVID) of predict', { skip }, async () => {
  const bytes = await readFile(CHEST_DICOM);
  const out = await analyseInstance(model, bytes, 'chest');
  assert.equal(out.status, 'analysed');
  if (out.status !== 'analysed') return;
  const [sr, sc] = out.results;
  assert.deepEqual(out.results.map((r) => r.kind), ['sr', 'sc']);
  const dump = await dsrdump(sr.bytes, 'chest');
  assert.equal(dump.code, 0, dump.stderr);
  assert.doesNotMatch(dump.stderr, /^(E|F):/m, dump.stderr);
  assert.match(dump.stdout, /Comprehensive SR Document/);
  assert.match(dump.stdout, /Probability of COVID-19/);

  const [viaPredict] = await predictFiles({ run: pacs.runDir, files: [CHEST_DICOM], gate: false });
  assert.ok('probability' in viaPredict);
  const r = readSr(sr.bytes);
  const p = r.num(CODES.probability.CodeValue)!;
  assert.ok(Math.abs(p - viaPredict.probability) < 1e-6, `${p} vs ${viaPredict.probability}`);
  assert.equal(r.num(CODES.threshold.CodeValue), model.info.threshold);
  assert.deepEqual(r.codes(CODES.call.CodeValue), [p >= model.info.threshold ? CODES.positive.CodeValue : CODES.negative.CodeValue]);
  // the gate was switched off: the report says so
  assert.deepEqual(r.codes(CODES.gate.CodeValue), [CODES.gateWarned.CodeValue]);
  assert.match(r.texts(CODES.gateReason.CodeValue).join('\n'), /input gate was switched off/);
  assert.match(r.texts(CODES.thresholdMeaning.CodeValue)[0], /called COVID-19 positive when P\(COVID\) >= /);
  assert.deepEqual(r.texts(CODES.researchUse.CodeValue), [RESEARCH_NOTICE]);
  assert.deepEqual(r.texts(CODES.algorithmName.CodeValue), ['deep-covid squeezenet1_1']);
  assert.match(r.texts(CODES.algorithmVersion.CodeValue)[0], /run run$/);
  const params = r.texts(CODES.algorithmParameters.CodeValue).join('\n');
  assert.match(params, new RegExp(`backbone weights sha256 ${model.info.backboneSha256}`));
  assert.match(params, /head weights sha256 [0-9a-f]{64}/);

  // filed in the source's study, new series, referencing the source image
  const src = readSourceHeader(bytes, 'chest');
  const d = r.dataset;
  assert.equal(d.StudyInstanceUID, src.studyInstanceUid);
  assert.equal(d.PatientID, src.patientStudy.PatientID);
  assert.notEqual(d.SeriesInstanceUID, src.seriesInstanceUid);
  assert.equal(d.Modality, 'SR');
  assert.ok(r.images().length >= 2 && r.images().every((u) => u === src.sopInstanceUid));
  const evidence = (d.CurrentRequestedProcedureEvidenceSequence as Record<string, never>[])[0];
  assert.equal(evidence.StudyInstanceUID, src.studyInstanceUid);

  // the secondary capture: dcmdump shows the reference, the caption is burnt in below the heatmap
  const scFile = join(pacs.work, 'chest.sc.dcm');
  await writeFile(scFile, sc.bytes);
  const scDump = await runTool(DCMTK.dcmdump!, ['+P', '0008,2112', '+P', '0008,1155', '+P', '0028,0301', '+P', '0020,000d', scFile]);
  assert.equal(scDump.code, 0, scDump.stderr);
  assert.match(scDump.stdout, new RegExp(`\\(0008,1155\\) UI \\[${src.sopInstanceUid.replace(/\./g, '\\.')}\\]`));
  assert.match(scDump.stdout, /BurnedInAnnotation/);
  assert.match(scDump.stdout, new RegExp(src.studyInstanceUid.replace(/\./g, '\\.')));
  const scd = sc.dataset;
  assert.equal(scd.SeriesInstanceUID !== d.SeriesInstanceUID, true);
  assert.match(String(scd.ImageComments), /RESEARCH SOFTWARE, NOT A DIAGNOSTIC DEVICE/);
  assert.match(String(scd.ImageComments), new RegExp(`P\\(COVID\\) = ${p.toFixed(3)}`));
  const rows = scd.Rows as number;
  const cols = scd.Columns as number;
  assert.ok(rows > cols, 'a caption band under the square heatmap');
  const pixels = new Uint8Array((scd.PixelData as ArrayBuffer[])[0]);
  assert.equal(pixels.length, rows * cols * 3);
  // the band (below the square picture) is black with white letters: some bright pixels, mostly dark
  const band = pixels.subarray(cols * cols * 3);
  let bright = 0;
  for (let i = 0; i < band.length; i += 3) if (band[i] > 200 && band[i + 1] > 200 && band[i + 2] > 200) bright++;
  const frac = bright / (band.length / 3);
  assert.ok(frac > 0.01 && frac < 0.4, `caption text pixels: ${(100 * frac).toFixed(1)}%`);
  // the picture part is the heatmap over the X-ray: colourful, not grey
  const pic = await sharp(Buffer.from(pixels.subarray(0, cols * cols * 3)), { raw: { width: cols, height: cols, channels: 3 } }).stats();
  assert.ok(Math.abs(pic.channels[0].mean - pic.channels[1].mean) > 1, 'a coloured overlay');
});

test('results of the same source and model reuse their UIDs (storing twice replaces); another source gets others', { skip }, async () => {
  const a = await analyseInstance(model, await readFile(CHEST_DICOM), 'a');
  const b = await analyseInstance(model, await readFile(CHEST_DICOM), 'b');
  const c = await analyseInstance(model, await relabelled(CHEST_DICOM, 7), 'c');
  assert.ok(a.status === 'analysed' && b.status === 'analysed' && c.status === 'analysed');
  if (a.status !== 'analysed' || b.status !== 'analysed' || c.status !== 'analysed') return;
  assert.deepEqual(a.results.map((r) => r.sopInstanceUid), b.results.map((r) => r.sopInstanceUid));
  assert.notDeepEqual(a.results.map((r) => r.sopInstanceUid), c.results.map((r) => r.sopInstanceUid));
  for (const r of [...a.results, ...c.results]) assert.match(r.sopInstanceUid, /^2\.25\.[1-9]\d{0,38}$/);
  // same study and model: same result series
  assert.notEqual(a.results[0].seriesInstanceUid, c.results[0].seriesInstanceUid);
  // the logs' references are opaque: no UID in them
  const src = readSourceHeader(await readFile(CHEST_DICOM), 'x');
  assert.ok(!a.ref.includes(src.sopInstanceUid) && /^[0-9a-f]{16}$/.test(a.ref));
});

test('a refused image gets a report that says so and why, with no probability, call or heatmap', { skip }, async () => {
  const src = readSourceHeader(await readFile(CHEST_DICOM), 'chest');
  const refused: PacsPrediction = { gate: { status: 'refused', reasons: ['not a frontal chest radiograph', 'image too dark'] }, score: null, ms: 1 };
  const sr = buildStructuredReport(src, refused, model.info, new Date());
  const dump = await dsrdump(sr.bytes, 'refused');
  assert.equal(dump.code, 0, dump.stderr);
  assert.doesNotMatch(dump.stderr, /^(E|F):/m);
  const r = readSr(sr.bytes);
  assert.equal(r.num(CODES.probability.CodeValue), null);
  assert.equal(r.num(CODES.threshold.CodeValue), null);
  assert.deepEqual(r.codes(CODES.call.CodeValue), []);
  assert.deepEqual(r.codes(CODES.gate.CodeValue), [CODES.gateRefused.CodeValue]);
  assert.deepEqual(r.texts(CODES.gateReason.CodeValue), refused.gate.reasons);
  assert.deepEqual(r.texts(CODES.researchUse.CodeValue), [RESEARCH_NOTICE]);
  assert.equal(await buildSecondaryCapture(src, refused, model.info, new Date()), null);
});

test('with the input gate on, a film unlike the run\'s training images is refused: the report gives the gate\'s reason and no probability', { skip }, async () => {
  const gated = await loadPacsModel(pacs.runDir);
  try {
    const out = await analyseInstance(gated, await readFile(CHEST_DICOM), 'gated');
    assert.equal(out.status, 'analysed');
    if (out.status !== 'analysed') return;
    assert.equal(out.prediction.gate.status, 'refused');
    assert.deepEqual(out.results.map((r) => r.kind), ['sr'], 'no heatmap for a refused film');
    const r = readSr(out.results[0].bytes);
    assert.equal(r.num(CODES.probability.CodeValue), null);
    assert.deepEqual(r.codes(CODES.gate.CodeValue), [CODES.gateRefused.CodeValue]);
    assert.ok(r.texts(CODES.gateReason.CodeValue).length >= 1);
    const dump = await dsrdump(out.results[0].bytes, 'gated');
    assert.equal(dump.code, 0, dump.stderr);
  } finally {
    await gated.close();
  }
});

test('a colour image sent as a chest CR is refused by the reader, with the reason in the report', { skip }, async () => {
  const rgb = await relabelled(join(DICOM_DIR, 'bad-color-rgb.dcm'), 3, { Modality: 'CR', BodyPartExamined: 'CHEST' });
  const out = await analyseInstance(model, rgb, 'rgb');
  assert.equal(out.status, 'analysed');
  if (out.status !== 'analysed') return;
  assert.equal(out.prediction.gate.status, 'refused');
  assert.equal(out.prediction.score, null);
  assert.deepEqual(out.results.map((r) => r.kind), ['sr']);
  const r = readSr(out.results[0].bytes);
  assert.match(r.texts(CODES.gateReason.CodeValue)[0], /could not be used \(unsupported\).*RGB/);
  assert.doesNotMatch(r.texts(CODES.gateReason.CodeValue)[0], /TEST-3/, 'no identifier in the reason');
});

test('only frontal chest films are analysed: other body parts, views, modalities and deep-covid results are skipped', { skip }, async () => {
  const hip = await analyseInstance(model, await readFile(HIP_DICOM), 'hip');
  assert.equal(hip.status, 'skipped');
  if (hip.status === 'skipped') assert.match(hip.reason, /body part HIP/);
  const ct = await analyseInstance(model, await readFile(join(DICOM_DIR, 'ts-explicit-vr-le-ct-16bit-signed-rescale.dcm')), 'ct');
  assert.equal(ct.status, 'skipped');
  const base = { modality: 'DX', bodyPartExamined: '', viewPosition: '', manufacturer: 'ACME' };
  assert.equal(chestFilmCheck(base).eligible, true);
  assert.equal(chestFilmCheck({ ...base, viewPosition: 'AP' }).eligible, true);
  assert.equal(chestFilmCheck({ ...base, bodyPartExamined: 'CHEST', viewPosition: 'PA' }).eligible, true);
  assert.equal(chestFilmCheck({ ...base, viewPosition: 'LL' }).eligible, false);
  assert.equal(chestFilmCheck({ ...base, bodyPartExamined: 'KNEE' }).eligible, false);
  assert.equal(chestFilmCheck({ ...base, modality: 'SR' }).eligible, false);
  assert.equal(chestFilmCheck({ ...base, manufacturer: 'deep-covid' }).eligible, false);
  const garbage = await analyseInstance(model, await readFile(join(DICOM_DIR, 'bad-dicm-then-garbage.dcm')), 'garbage-ref');
  assert.equal(garbage.status, 'failed');
  if (garbage.status === 'failed') assert.match(garbage.error, /instance garbage-ref: not a readable DICOM/);
});

test('the structured report keeps non-ASCII patient names (UTF-8)', { skip }, async () => {
  const bytes = await readFile(CHEST_DICOM);
  const { DicomMessage, DicomMetaDictionary } = dcmjs.data;
  const dict = DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  dict.dict['00100010'].Value = [{ Alphabetic: 'Müller^Zoë' }];
  dict.dict['00080005'] = { vr: 'CS', Value: ['ISO_IR 192'] };
  const out = await analyseInstance(model, new Uint8Array(dict.write()), 'utf8');
  assert.equal(out.status, 'analysed');
  if (out.status !== 'analysed') return;
  const d = DicomMetaDictionary.naturalizeDataset(DicomMessage.readFile(out.results[0].bytes.buffer.slice(0)).dict);
  assert.equal(d.PatientName[0].Alphabetic, 'Müller^Zoë');
  const dump = await dsrdump(out.results[0].bytes, 'utf8');
  assert.equal(dump.code, 0, dump.stderr);
  assert.match(dump.stdout, /Müller\^Zoë|Müller/);
});
