/**
 * The one place the PACS layer touches the model. Today it predicts through the server's
 * `loadModelService` (one backbone pass gives P(COVID) and the CAM overlay); when the run's
 * model object and the input gate land, only this file changes.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { loadModelService, type ModelServiceOptions, type Predictor } from '../server/model-service.js';
import { sha256Hex } from '../util/hash.js';
import { PROJECT_ROOT } from '../util/paths.js';
import type { GateVerdict, PacsModelInfo, PacsPrediction } from './types.js';

/** A loaded model as the PACS layer uses it. */
export interface PacsModel {
  readonly info: PacsModelInfo;
  /** Predicts one image; never throws for a bad image (that is a refusal with a reason). */
  predict(input: { bytes: Uint8Array; name: string }, opts?: { maxPixels?: number }): Promise<PacsPrediction>;
  close(): Promise<void>;
}

/** The verdict written while no input gate exists. */
export const GATE_NOT_ASSESSED: GateVerdict = Object.freeze({ status: 'not-assessed', reasons: Object.freeze([]) as unknown as string[] });

let version: string | null = null;

/** deep-covid's own version, from package.json. */
export function deepCovidVersion(): string {
  version ??= (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}

/** Loads a trained run for PACS use. */
export async function loadPacsModel(runDir: string, opts: ModelServiceOptions = {}): Promise<PacsModel> {
  const headSha256 = sha256Hex(await readFile(join(runDir, 'head.json')));
  const service = await loadModelService(runDir, opts);
  return new ServiceModel(service, headSha256);
}

class ServiceModel implements PacsModel {
  readonly info: PacsModelInfo;

  constructor(private readonly service: Predictor, headSha256: string) {
    const rec = service.run.record;
    const op = service.operatingPoint;
    const pct = (p: { estimate: number | null; ci95: [number, number] | null }) =>
      p.estimate === null ? 'n/a' : `${(100 * p.estimate).toFixed(1)}%${p.ci95 ? ` (95% CI ${(100 * p.ci95[0]).toFixed(1)}-${(100 * p.ci95[1]).toFixed(1)}%)` : ''}`;
    const chosen = rec.threshold.fallback
      ? 'the fallback 0.5 (the validation images had no COVID case)'
      : `chosen on the run's validation images as the highest threshold reaching ${(100 * rec.threshold.targetSensitivity).toFixed(0)}% sensitivity`;
    const tested = op ? ` On the run's own test images it had sensitivity ${pct(op.sensitivity)} and specificity ${pct(op.specificity)}.` : '';
    this.info = {
      name: `deep-covid ${rec.backbone.name}`,
      version: `${deepCovidVersion()}, run ${rec.id}`,
      runId: rec.id,
      backbone: rec.backbone.name,
      backboneSha256: rec.backbone.sha256,
      headSha256,
      weights: service.modelRef.weights,
      warning: service.modelRef.warning,
      threshold: rec.threshold.value,
      thresholdMeaning: `An image is called COVID-19 positive when P(COVID) >= ${rec.threshold.value.toFixed(4)}; this threshold was ${chosen}.${tested}`,
    };
  }

  async predict(input: { bytes: Uint8Array; name: string }, opts: { maxPixels?: number } = {}): Promise<PacsPrediction> {
    const t0 = performance.now();
    try {
      const p = await this.service.predict({ bytes: input.bytes, name: input.name, maxPixels: opts.maxPixels });
      const cam = p.heatmaps.cam;
      return {
        gate: GATE_NOT_ASSESSED,
        score: {
          probability: p.probability,
          label: p.label,
          threshold: p.threshold,
          overlayPng: cam ? Buffer.from(cam.overlayPng, 'base64') : null,
          overlayMethod: cam ? 'class activation map (CAM)' : 'none',
          overlayMeaning: cam?.meaning ?? '',
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
    return this.service.close();
  }
}
