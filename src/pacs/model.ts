/**
 * The one place the PACS layer touches the model: a run's `DeepCovidModel`, whose `analyse` gives
 * the input gate's verdict and, unless the gate refused the image, P(COVID) and the CAM from one
 * backbone pass, turned into what the DICOM results need.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { blendOverGrey, colourise, displayScale, encodePng, EXPLAINER_DEFAULTS, MAP_MEANING, VIRIDIS } from '../explain/index.js';
import type { Proportion } from '../evaluate/index.js';
import type { GateResult } from '../gate/index.js';
import { DeepCovidModel, type ModelLoadOptions } from '../model/index.js';
import { RUN_FILES } from '../protocol/run-folder.js';
import { weightsNote } from '../protocol/run-files.js';
import { sha256Hex } from '../util/hash.js';
import { PROJECT_ROOT } from '../util/paths.js';
import type { GateVerdict, PacsModelInfo, PacsPrediction } from './types.js';

/** A loaded model as the PACS layer uses it. */
export interface PacsModel {
  readonly info: PacsModelInfo;
  /** Predicts one image; never throws for a bad image (that is a refusal with a reason). */
  predict(input: { bytes: Uint8Array; name: string }, opts?: { maxPixels?: number; signal?: AbortSignal }): Promise<PacsPrediction>;
  close(): Promise<void>;
}

/** Options of `loadPacsModel`. */
export interface PacsModelOptions extends ModelLoadOptions {
  /** false: the input gate refuses nothing (research use; every result then says so). Default true. */
  gate?: boolean;
}

/** The gate's result in the words the DICOM results carry (notes marked as such). */
export function gateVerdict(g: GateResult): GateVerdict {
  return { status: g.verdict, reasons: g.reasons.map((r) => (r.level === 'note' ? `(note) ${r.message}` : r.message)) };
}

let version: string | null = null;

/** deep-covid's own version, from package.json. */
export function deepCovidVersion(): string {
  version ??= (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}

/** Loads a trained run for PACS use. */
export async function loadPacsModel(runDir: string, opts: PacsModelOptions = {}): Promise<PacsModel> {
  const headSha256 = sha256Hex(await readFile(join(runDir, RUN_FILES.head)));
  return new RunModel(await DeepCovidModel.load(runDir, opts), headSha256, opts.gate !== false);
}

const pct = (p: Proportion) =>
  p.estimate === null ? 'n/a' : `${(100 * p.estimate).toFixed(1)}%${p.wilson ? ` (95% CI ${(100 * p.wilson[0]).toFixed(1)}-${(100 * p.wilson[1]).toFixed(1)}%)` : ''}`;

class RunModel implements PacsModel {
  readonly info: PacsModelInfo;

  constructor(private readonly model: DeepCovidModel, headSha256: string, private readonly gate: boolean) {
    const run = model.run!;
    const rec = run.record;
    const i = model.info;
    const op = run.metrics?.operatingPoint;
    const chosen = i.thresholdFallback
      ? 'the fallback 0.5 (the validation images had no COVID case)'
      : `chosen on the run's validation images as the highest threshold reaching ${(100 * i.targetSensitivity).toFixed(0)}% sensitivity`;
    const tested = op ? ` On the run's own test images it had sensitivity ${pct(op.sensitivity)} and specificity ${pct(op.specificity)}.` : '';
    const note = weightsNote(rec).replace(/\*\*/g, '');
    this.info = {
      name: `deep-covid ${i.backbone}`,
      version: `${deepCovidVersion()}, run ${i.runId}`,
      runId: i.runId,
      backbone: i.backbone,
      backboneSha256: i.weightsSha256,
      headSha256,
      weights: i.weights === 'imagenet' || i.weights === 'synthetic' ? i.weights : 'unknown',
      warning: i.weights === 'synthetic' ? `SYNTHETIC WEIGHTS: ${note}` : note || null,
      threshold: i.threshold,
      thresholdMeaning: `An image is called COVID-19 positive when P(COVID) >= ${i.threshold.toFixed(4)}; this threshold was ${chosen}.${tested}`,
    };
  }

  async predict(input: { bytes: Uint8Array; name: string }, opts: { maxPixels?: number; signal?: AbortSignal } = {}): Promise<PacsPrediction> {
    const t0 = performance.now();
    try {
      const a = await this.model.analyse(input, { cam: true, gate: this.gate, limits: opts.maxPixels ? { maxPixels: opts.maxPixels } : undefined, signal: opts.signal });
      const gate = gateVerdict(a.gate);
      if (a.probability === null || a.label === null) return { gate, score: null, ms: performance.now() - t0 };
      let overlayPng: Uint8Array | null = null;
      if (a.cam) {
        const map = a.cam.map;
        const heat = colourise(displayScale(map, 'positive'), map.width, map.height, VIRIDIS);
        overlayPng = await encodePng(blendOverGrey(a.crop, heat, EXPLAINER_DEFAULTS.overlayAlpha));
      }
      return {
        gate,
        score: {
          probability: a.probability, label: a.label, threshold: a.threshold, overlayPng,
          overlayMethod: overlayPng ? 'class activation map (CAM)' : 'none',
          overlayMeaning: overlayPng ? MAP_MEANING.cam.plain : '',
        },
        ms: performance.now() - t0,
      };
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      // an image the reader cannot use is refused, with the reader's reason (without the name)
      const detail = err.message.startsWith(`${err.file}: `) ? err.message.slice(err.file.length + 2) : err.message;
      return { gate: { status: 'refused', reasons: [`the image could not be used (${err.problem}): ${detail}`] }, score: null, ms: performance.now() - t0 };
    }
  }

  close(): Promise<void> {
    return this.model.release();
  }
}
