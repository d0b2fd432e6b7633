/** The run's model card as JSON for GET /api/model: what was trained on what, and how it did. */
import { basename } from 'node:path';
import type { LoadedRun } from '../protocol/run-folder.js';
import type { ApiModelCard } from './api-types.js';
import { apiOperatingPoint, modelRefOf } from './model-service.js';

export const INTENDED_USE =
  'Research software, not a diagnostic device. For studying transfer learning on chest X-rays (the Deep-COVID protocol); ' +
  'not for screening, diagnosis, triage or any other clinical decision.';

export const PRIVACY_NOTE = 'Uploads are kept in memory only for the time of the request and dropped after the answer; nothing is written to disk or logged.';

/** Limits the server enforces, shown on the card so users know them before uploading. */
export interface ServedLimits {
  maxUploadBytes: number;
  maxPixels: number;
  concurrency: number;
  maxQueued: number;
}

/** Builds the model card data of a loaded run. */
export function modelCard(run: LoadedRun, limits: ServedLimits): ApiModelCard {
  const r = run.record;
  const m = run.metrics;
  const c = r.data.counts;
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  const howChosen = r.threshold.fallback
    ? 'The validation split had no COVID images, so the default 0.5 was used.'
    : `The highest threshold that still caught at least ${pct(r.threshold.targetSensitivity)} of the COVID images of the validation split ` +
      `(${c.val.n} images held out from training, ${c.val.covid} COVID, split by ${r.data.validationBy}); the test set was not used for this choice.`;
  const limitations = [
    'Public COVID-19 X-ray collections are confounded by source: most COVID images come from web and paper figures, most non-COVID ones from one hospital archive. The model may recognise the source rather than the disease.',
    'Test results describe this run\'s test set only; they do not predict performance on other hospitals, devices or populations.',
    'Only frontal chest X-rays resembling the training data give meaningful outputs; any other image still gets a number.',
  ];
  if (r.backbone.weights !== 'imagenet') limitations.unshift(modelRefOf(run).warning ?? '');
  return {
    runId: r.id,
    createdAt: r.createdAt,
    model: modelRefOf(run),
    backbone: { name: r.backbone.name, file: basename(r.backbone.file), sha256: r.backbone.sha256, head: r.backbone.manifest.head.kind, dropout: r.backbone.manifest.head.dropout },
    training: {
      dataset: basename(r.data.root),
      origin: r.data.origin,
      counts: { train: c.train, trainAugmented: c.trainAugmented, validation: c.val, test: c.test },
      validationSplitBy: r.data.validationBy,
      protocol: { epochs: r.training.epochs, bestEpoch: r.training.bestEpoch, batchSize: r.config.batchSize, lr: r.config.lr, augmentFactor: r.config.augmentFactor, seed: r.config.seed },
    },
    threshold: { value: r.threshold.value, chosenOn: r.threshold.chosenOn, targetSensitivity: r.threshold.targetSensitivity, fallback: r.threshold.fallback, howChosen },
    test: m
      ? {
          n: m.n,
          covid: m.positives,
          auc: m.auc ? { value: m.auc.value, ci95: m.auc.delong ? [m.auc.delong.lower, m.auc.delong.upper] : null, method: 'DeLong 95% interval' } : null,
          operatingPoint: apiOperatingPoint(m.operatingPoint),
        }
      : null,
    intendedUse: INTENDED_USE,
    limitations: limitations.filter(Boolean),
    privacy: PRIVACY_NOTE,
    limits,
  };
}
