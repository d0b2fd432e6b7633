/**
 * GET /api/model: the run's model card (built by report/model-card.ts, the one source of every
 * card text) plus the limits this server enforces, so users know them before uploading.
 */
import type { LoadedRun } from '../protocol/run-folder.js';
import { buildModelCard, INTENDED_USE, PRIVACY_NOTE } from '../report/model-card.js';
import type { ApiModelCard } from './api-types.js';

export { INTENDED_USE, PRIVACY_NOTE };

/** Limits the server enforces, shown on the card so users know them before uploading. */
export interface ServedLimits {
  maxUploadBytes: number;
  maxPixels: number;
  concurrency: number;
  maxQueued: number;
}

/** The model card data of a loaded run, with the server's limits. */
export function modelCard(run: LoadedRun, limits: ServedLimits, shortcutCheck: unknown = null): ApiModelCard {
  return { ...buildModelCard({ record: run.record, metrics: run.metrics, shortcutCheck }), limits };
}
