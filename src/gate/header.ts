/**
 * Layer 1 of the gate: what a DICOM header says. A header that names another modality, another
 * body part or a lateral view is believed (refused with that reason); a header that is silent is
 * allowed, and the silence is noted in the result.
 */
import { GATE_DEFAULTS, type GateSettings } from './settings.js';
import type { GateReason, HeaderCheck, HeaderFacts } from './types.js';

/** `LoadedImage.meta` as the DICOM reader fills it (only these keys are read). */
export type DicomMeta = Readonly<Record<string, string | number>>;

/** Plain-words names of DICOM modalities a user may drop by mistake. */
const MODALITY_WORDS: Record<string, string> = {
  CT: 'a CT slice',
  MR: 'an MR image',
  NM: 'a nuclear medicine image',
  PT: 'a PET image',
  US: 'an ultrasound image',
  MG: 'a mammogram',
  XA: 'an angiography image',
  RF: 'a fluoroscopy image',
  IO: 'an intra-oral dental X-ray',
  PX: 'a panoramic dental X-ray',
  OP: 'an eye photograph',
  XC: 'a photograph',
  ES: 'an endoscopy image',
  SM: 'a microscopy slide',
  OT: 'an image of modality "other" (OT)',
  SC: 'a secondary capture',
  SR: 'a structured report',
};

/** SOP classes that answer "what is it?" when Modality is absent. */
const SOP_CLASS_MODALITY: Record<string, string> = {
  '1.2.840.10008.5.1.4.1.1.1': 'CR',
  '1.2.840.10008.5.1.4.1.1.1.1': 'DX',
  '1.2.840.10008.5.1.4.1.1.1.1.1': 'DX',
  '1.2.840.10008.5.1.4.1.1.2': 'CT',
  '1.2.840.10008.5.1.4.1.1.2.1': 'CT',
  '1.2.840.10008.5.1.4.1.1.4': 'MR',
  '1.2.840.10008.5.1.4.1.1.4.1': 'MR',
  '1.2.840.10008.5.1.4.1.1.20': 'NM',
  '1.2.840.10008.5.1.4.1.1.128': 'PT',
  '1.2.840.10008.5.1.4.1.1.6.1': 'US',
  '1.2.840.10008.5.1.4.1.1.1.2': 'MG',
  '1.2.840.10008.5.1.4.1.1.1.2.1': 'MG',
  '1.2.840.10008.5.1.4.1.1.12.1': 'XA',
  '1.2.840.10008.5.1.4.1.1.12.2': 'RF',
};

/** Body Part Examined values (and local spellings) that mean the chest. */
const CHEST = /CHEST|THORAX|THORAC|TORAX|TORACE|LUNG|POITRINE|BRUST|PECHO|PETTO/;
const LATERAL = new Set(['LL', 'RL', 'LAT', 'LATERAL', 'LEFT LATERAL', 'RIGHT LATERAL']);
const OBLIQUE = new Set(['RLO', 'LLO', 'RAO', 'LAO', 'OBLIQUE']);

function text(meta: DicomMeta | undefined, key: string): string | null {
  const v = meta?.[key];
  if (v === undefined || v === null) return null;
  const s = String(v).trim().toUpperCase();
  return s === '' ? null : s;
}

/** Reads the gate's header facts out of a DICOM image's `meta`. */
export function headerFacts(meta: DicomMeta): HeaderFacts {
  const facts: HeaderFacts = {
    modality: text(meta, 'modality'),
    bodyPart: text(meta, 'bodyPartExamined'),
    viewPosition: text(meta, 'viewPosition'),
    sopClassUid: meta.sopClassUid !== undefined ? String(meta.sopClassUid).trim() || null : null,
    imageType: text(meta, 'imageType'),
    photometric: text(meta, 'photometric'),
    missing: [],
  };
  if (!facts.modality) facts.missing.push('Modality');
  if (!facts.bodyPart) facts.missing.push('BodyPartExamined');
  if (!facts.viewPosition) facts.missing.push('ViewPosition');
  return facts;
}

/**
 * Checks a DICOM header: Modality must be one of `settings.modalities` (CR, DX by default);
 * Body Part Examined, when present, must be the chest; View Position, when present, PA or AP.
 * Returns null for images without a DICOM header (`meta` absent).
 */
export function assessHeader(meta: DicomMeta | undefined, settings: Pick<GateSettings, 'modalities'> = GATE_DEFAULTS): HeaderCheck | null {
  if (!meta) return null;
  const facts = headerFacts(meta);
  const reasons: GateReason[] = [];
  const allowed = settings.modalities.map((m) => m.toUpperCase());
  const modality = facts.modality ?? (facts.sopClassUid ? SOP_CLASS_MODALITY[facts.sopClassUid] ?? null : null);
  const allowedWords = allowed.join(' or ');
  if (modality && !allowed.includes(modality)) {
    const what = MODALITY_WORDS[modality] ?? `an image of modality ${modality}`;
    const source = facts.modality ? `the DICOM header says modality ${modality}` : `the DICOM SOP class is that of modality ${modality}`;
    reasons.push({ code: 'not-radiograph', level: 'refuse', message: `This looks like ${what}, not a chest radiograph (${source}; accepted: ${allowedWords}).` });
  }
  if (facts.bodyPart && !CHEST.test(facts.bodyPart)) {
    reasons.push({ code: 'not-chest', level: 'refuse', message: `This is not a chest image: the DICOM header says the body part examined is ${facts.bodyPart}.` });
  }
  const view = facts.viewPosition;
  if (view && !/^(PA|AP)\b/.test(view)) {
    if (LATERAL.has(view)) {
      reasons.push({ code: 'lateral-view', level: 'refuse', message: `This is a lateral view (the DICOM header says view position ${view}); the model reads only frontal (PA or AP) chest X-rays.` });
    } else if (OBLIQUE.has(view)) {
      reasons.push({ code: 'oblique-view', level: 'refuse', message: `This is an oblique view (the DICOM header says view position ${view}); the model reads only frontal (PA or AP) chest X-rays.` });
    } else {
      reasons.push({ code: 'other-view', level: 'warn', message: `The DICOM header says view position ${view}, not PA or AP; the model was trained on frontal chest X-rays only.` });
    }
  }
  if (facts.missing.length > 0) {
    const names = facts.missing.join(', ');
    reasons.push({ code: 'header-incomplete', level: 'note', message: `The DICOM header does not give ${names}, so ${facts.missing.length === 1 ? 'that was' : 'those were'} not checked.` });
  }
  return { facts, reasons };
}
