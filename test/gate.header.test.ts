// The gate's DICOM header layer: rules on hand-made header facts, and the real fixtures of
// ../shared/data/dicom (CT, MR, NM and "other" refused with their modality named; the chest
// radiographs pass).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { assessHeader, combineGate } from '../src/gate/index.js';
import { loadGreyImage } from '../src/input/load-image.js';
import { SHARED, skipNoShared } from './helpers/shared.js';

const DICOM = join(SHARED, 'data', 'dicom');
const chest = { modality: 'CR', bodyPartExamined: 'CHEST', viewPosition: 'PA' };

function codes(meta: Record<string, string>) {
  return assessHeader(meta)!.reasons.map((r) => `${r.level}:${r.code}`);
}

describe('assessHeader on header facts', () => {
  test('a CR or DX chest PA/AP passes; absent tags are noted, not refused', () => {
    assert.deepEqual(codes(chest), []);
    assert.deepEqual(codes({ modality: 'DX', bodyPartExamined: 'thorax', viewPosition: 'AP SUPINE' }), []);
    const bare = assessHeader({ photometric: 'MONOCHROME2' })!;
    assert.deepEqual(bare.reasons.map((r) => r.level), ['note']);
    assert.deepEqual(bare.facts.missing, ['Modality', 'BodyPartExamined', 'ViewPosition']);
    assert.match(bare.reasons[0].message, /does not give Modality, BodyPartExamined, ViewPosition/);
    assert.equal(combineGate({ header: bare, image: null, ood: null }).verdict, 'passed');
  });

  test('another modality is refused, named in plain words', () => {
    const ct = assessHeader({ ...chest, modality: 'CT' })!;
    assert.deepEqual(ct.reasons.map((r) => `${r.level}:${r.code}`), ['refuse:not-radiograph']);
    assert.match(ct.reasons[0].message, /This looks like a CT slice, not a chest radiograph .*modality CT/);
    assert.match(assessHeader({ modality: 'MR' })!.reasons[0].message, /an MR image/);
    assert.match(assessHeader({ modality: 'ZZ' })!.reasons[0].message, /modality ZZ/);
  });

  test('the accepted modalities are a setting', () => {
    assert.deepEqual(codes({ ...chest, modality: 'RG' }), ['refuse:not-radiograph']);
    assert.deepEqual(assessHeader({ ...chest, modality: 'RG' }, { modalities: ['CR', 'DX', 'RG'] })!.reasons, []);
  });

  test('without Modality, a CT or MR SOP class still refuses; a secondary capture does not', () => {
    const r = assessHeader({ sopClassUid: '1.2.840.10008.5.1.4.1.1.2', bodyPartExamined: 'CHEST' })!;
    assert.equal(r.reasons[0].code, 'not-radiograph');
    assert.match(r.reasons[0].message, /CT slice.*SOP class/);
    assert.deepEqual(codes({ sopClassUid: '1.2.840.10008.5.1.4.1.1.7', viewPosition: 'PA' }), ['note:header-incomplete']);
  });

  test('another body part is refused (case-insensitive chest names pass)', () => {
    assert.deepEqual(codes({ ...chest, bodyPartExamined: 'HIP' }), ['refuse:not-chest']);
    assert.match(assessHeader({ ...chest, bodyPartExamined: 'knee' })!.reasons[0].message, /body part examined is KNEE/);
    for (const bp of ['chest', 'Thorax', 'TORAX', 'LUNG', 'PORT CHEST']) assert.deepEqual(codes({ ...chest, bodyPartExamined: bp }), [], bp);
  });

  test('lateral and oblique views are refused; other view codes warn', () => {
    for (const v of ['LL', 'RL', 'LATERAL', 'lat']) {
      const r = assessHeader({ ...chest, viewPosition: v })!;
      assert.deepEqual(r.reasons.map((x) => `${x.level}:${x.code}`), ['refuse:lateral-view'], v);
      assert.match(r.reasons[0].message, /lateral view/);
    }
    assert.deepEqual(codes({ ...chest, viewPosition: 'LLO' }), ['refuse:oblique-view']);
    assert.deepEqual(codes({ ...chest, viewPosition: 'LLD' }), ['warn:other-view']);
  });

  test('files without a DICOM header have no header layer', () => {
    assert.equal(assessHeader(undefined), null);
  });
});

describe('assessHeader on the DICOM fixtures', { skip: skipNoShared }, () => {
  const good = readdirSync(DICOM).filter((f) => f.endsWith('.dcm') && !f.startsWith('bad-')).sort();

  test('every CT, MR, NM and OT fixture is refused with its modality named', async () => {
    let refused = 0;
    for (const f of good) {
      const img = await loadGreyImage(join(DICOM, f));
      const modality = img.meta?.modality;
      if (modality === undefined || modality === 'CR' || modality === 'DX') continue;
      const h = assessHeader(img.meta)!;
      const result = combineGate({ header: h, image: null, ood: null });
      assert.equal(result.verdict, 'refused', f);
      assert.equal(result.reasons[0].code, 'not-radiograph', f);
      assert.ok(result.reasons[0].message.includes(`modality ${String(modality)}`), `${f}: ${result.reasons[0].message}`);
      refused++;
    }
    // 2 CT, 3 MR, 1 NM, 2 OT among the fixtures
    assert.equal(refused, 8);
  });

  test('the chest radiographs pass the header check (CR, chest, PA)', async () => {
    for (const f of ['rsna-monochrome2-jpeg-baseline.dcm', 'fake-monochrome1.dcm']) {
      const img = await loadGreyImage(join(DICOM, f));
      const h = assessHeader(img.meta)!;
      assert.equal(h.facts.modality, 'CR');
      assert.deepEqual(h.reasons.filter((r) => r.level !== 'note'), [], f);
    }
  });

  test('the CR films of other body parts are refused with the body part named', async () => {
    const parts: Record<string, string> = {
      'ts-jpeg-extended-12bit-cr.dcm': 'HIP',
      'ts-jpeg2000-lossless-cr-monochrome1-10bit.dcm': 'EXTREMITY',
      'ts-htj2k-lossless-rpcl-cr-monochrome1-10bit.dcm': 'EXTREMITY',
      'cr-monochrome1-rescale-window-16x16.dcm': 'CSPINE',
    };
    for (const [f, part] of Object.entries(parts)) {
      const h = assessHeader((await loadGreyImage(join(DICOM, f))).meta)!;
      const r = h.reasons.find((x) => x.code === 'not-chest');
      assert.ok(r && r.level === 'refuse' && r.message.includes(part), `${f}: ${JSON.stringify(h.reasons)}`);
    }
  });

  test('the 16x16 cervical-spine CR film is refused as not a chest (body part CSPINE) and as a lateral view (LL)', async () => {
    const img = await loadGreyImage(join(DICOM, 'cr-monochrome1-rescale-window-16x16.dcm'));
    const refusals = assessHeader(img.meta)!.reasons.filter((r) => r.level === 'refuse').map((r) => r.code);
    assert.deepEqual(refusals, ['not-chest', 'lateral-view']);
  });
});
