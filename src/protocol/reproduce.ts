import type { ProgressListener } from '../util/progress.js';
import { join, resolve } from 'node:path';
import { ModelNotFoundError } from '../errors.js';
import type { BackboneOptions } from '../backbone/backbone.js';
import { PAPER_BACKBONES } from '../backbone/registry.js';
import type { FeatureCache } from '../features/cache.js';
import type { LoadLimits } from '../input/load-image.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { ProtocolConfig } from './config.js';
import { prepareRunOutput, REPRODUCE_MARKER } from './run-folder.js';
import { aucCi, pctCi, thresholdTable, weightsNote } from './run-files.js';
import { trainRun, type TrainRunResult } from './train-run.js';
import { buildEnsemble, type EnsembleResult } from './ensemble.js';

/** Options of `reproduce`. */
export interface ReproduceOptions {
  data: string;
  manifest?: string | false;
  out: string;
  force?: boolean;
  backbones?: string[];
  config?: Partial<ProtocolConfig>;
  runtime?: BackboneOptions;
  /** Feature cache; none by default. */
  cache?: FeatureCache | null;
  limits?: Partial<LoadLimits>;
  /** Receives progress events (the library never prints). */
  onProgress?: ProgressListener;
  log?: (msg: string) => void;
  /** Also build the ensemble of the real-weight backbones (default true). */
  ensemble?: boolean;
}

/** Folder name of the ensemble inside a reproduce folder. */
export const ENSEMBLE_DIR = 'ensemble';

/** One backbone's outcome: its run, or why it was skipped. */
export type ReproduceEntry = { backbone: string; run: TrainRunResult } | { backbone: string; skipped: string };

/**
 * The whole paper: every available backbone trained and evaluated with the same protocol, then
 * the comparison table (paper Table 6) and the per-threshold tables (Tables 2–5) in
 * comparison.md / comparison.json. A backbone whose model file is missing is skipped with the
 * reason, not fatal.
 */
export async function reproduce(opts: ReproduceOptions): Promise<{ out: string; entries: ReproduceEntry[]; ensemble: EnsembleResult | null }> {
  const log = opts.log ?? (() => {});
  const out = resolve(opts.out);
  await prepareRunOutput(out, { replace: !!opts.force, kind: 'reproduce' });
  const entries: ReproduceEntry[] = [];
  for (const name of opts.backbones ?? [...PAPER_BACKBONES]) {
    log(`== ${name}`);
    try {
      const run = await trainRun({
        data: opts.data, manifest: opts.manifest, out: join(out, name), force: opts.force,
        config: { ...opts.config, backbone: name }, runtime: opts.runtime, cache: opts.cache,
        limits: opts.limits, onProgress: opts.onProgress, log,
      });
      entries.push({ backbone: name, run });
      const m = run.metrics;
      log(`${name}: AUC ${aucCi(m)}; best epoch ${run.record.training.bestEpoch}; head training ${run.record.timings.trainHead}s`);
    } catch (err) {
      if (!(err instanceof ModelNotFoundError)) throw err;
      entries.push({ backbone: name, skipped: err.message.split('\n')[0] });
      log(`${name}: skipped (${err.message.split('\n')[0]})`);
    }
  }
  // the ensemble of the backbones with real weights (synthetic ones would only add noise)
  const real = entries.filter((e): e is { backbone: string; run: TrainRunResult } => 'run' in e && e.run.record.backbone.weights === 'imagenet');
  let ensemble: EnsembleResult | null = null;
  if (opts.ensemble !== false && real.length >= 2) {
    ensemble = await buildEnsemble({ runs: real.map((e) => e.run.dir), out: join(out, ENSEMBLE_DIR), force: opts.force });
    log(`${ENSEMBLE_DIR} (${real.map((e) => e.backbone).join(' + ')}, ${ensemble.record.combine} averaging chosen on validation): AUC ${aucCi(ensemble.metrics)}`);
  }
  await writeFileAtomic(join(out, 'comparison.md'), comparisonMarkdown(opts.data, entries, ensemble));
  await writeFileAtomic(join(out, REPRODUCE_MARKER), JSON.stringify(comparisonJson(entries, ensemble), null, 1) + '\n');
  return { out, entries, ensemble };
}

function comparisonJson(entries: ReproduceEntry[], ensemble: EnsembleResult | null) {
  const rows: unknown[] = entries.map((e) => {
    if ('skipped' in e) return e;
    const r = e.run.record;
    const m = e.run.metrics;
    return {
      backbone: e.backbone, weights: r.backbone.weights, run: e.run.dir,
      auc: m?.auc ?? null, threshold: r.threshold, operatingPoint: m?.operatingPoint ?? null,
      optimisticThreshold: m?.optimisticThreshold ?? null, atThresholds: m?.atThresholds ?? null,
      bestEpoch: r.training.bestEpoch, timings: r.timings,
    };
  });
  if (ensemble) {
    const m = ensemble.metrics;
    rows.push({
      backbone: ENSEMBLE_DIR, ensemble: true, members: ensemble.record.members.map((x) => x.backbone), combine: ensemble.record.combine,
      weights: 'imagenet', run: ensemble.dir, auc: m?.auc ?? null, threshold: ensemble.record.threshold, operatingPoint: m?.operatingPoint ?? null,
      optimisticThreshold: m?.optimisticThreshold ?? null, atThresholds: m?.atThresholds ?? null,
    });
  }
  return rows;
}

/** The comparison report: paper Table 6 (per model) and Tables 2–5 (per threshold). */
export function comparisonMarkdown(data: string, entries: ReproduceEntry[], ensemble: EnsembleResult | null = null): string {
  const out: string[] = [];
  out.push('# Deep-COVID reproduction', '');
  out.push(`Data: ${resolve(data)}. Research software, not a diagnostic device: these numbers describe this test set only.`, '');
  out.push('## Models compared (paper Table 6)', '');
  out.push('Operating threshold chosen on validation for the target sensitivity; the "optimistic" columns fit the threshold on the test set itself, as the paper did, and overstate what a new patient would see.', '');
  out.push('| model | weights | test AUC (95% CI) | threshold (val) | sensitivity | specificity | optimistic threshold (test) | sensitivity | specificity |');
  out.push('|---|---|---|---:|---|---|---:|---|---|');
  for (const e of entries) {
    if ('skipped' in e) {
      out.push(`| ${e.backbone} | skipped: ${e.skipped.replace(/\|/g, '/')} | | | | | | | |`);
      continue;
    }
    const r = e.run.record;
    const m = e.run.metrics;
    const op = m?.operatingPoint;
    const o = m?.optimisticThreshold;
    out.push(`| ${e.backbone} | ${r.backbone.weights} | ${aucCi(m)} | ${r.threshold.value.toFixed(3)} | ${op ? pctCi(op.sensitivity) : 'n/a'} | ${op ? pctCi(op.specificity) : 'n/a'} | ${o ? o.threshold.toFixed(3) : 'n/a'} | ${o ? pctCi(o.metrics.sensitivity) : 'n/a'} | ${o ? pctCi(o.metrics.specificity) : 'n/a'} |`);
  }
  if (ensemble?.metrics) {
    const m = ensemble.metrics;
    const op = m.operatingPoint;
    const o = m.optimisticThreshold;
    const who = ensemble.record.members.map((x) => x.backbone).join(' + ');
    out.push(`| ensemble (${who}; mean ${ensemble.record.combine === 'logit' ? 'log-odds' : 'probability'}, chosen on validation) | imagenet | ${aucCi(m)} | ${ensemble.record.threshold.value.toFixed(3)} | ${pctCi(op.sensitivity)} | ${pctCi(op.specificity)} | ${o ? o.threshold.toFixed(3) : 'n/a'} | ${o ? pctCi(o.metrics.sensitivity) : 'n/a'} | ${o ? pctCi(o.metrics.specificity) : 'n/a'} |`);
  }
  out.push('');
  for (const e of entries) {
    if ('skipped' in e || !e.run.metrics) continue;
    out.push(`## ${e.backbone}: sensitivity and specificity by threshold (paper Tables 2–5)`, '');
    const w = weightsNote(e.run.record);
    if (w) out.push(w, '');
    out.push(thresholdTable(e.run.metrics), '');
  }
  return out.join('\n') + '\n';
}
