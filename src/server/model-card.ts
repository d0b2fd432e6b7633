/**
 * GET /api/model: the model card of the run or ensemble (built by report/model-card.ts, the one
 * source of every card text) plus the limits this server enforces, so users know them before uploading.
 */
import { INTENDED_USE, PRIVACY_NOTE } from '../report/model-card.js';
import type { ApiModelCard, ModelCard } from './api-types.js';

export { INTENDED_USE, PRIVACY_NOTE };

/** Limits the server enforces, shown on the card so users know them before uploading. */
export interface ServedLimits {
  maxUploadBytes: number;
  maxPixels: number;
  concurrency: number;
  maxQueued: number;
}

/** The model card data of a served model (a run or an ensemble), with the server's limits. */
export function modelCard(card: ModelCard, limits: ServedLimits): ApiModelCard {
  return { ...card, limits };
}
