import { UnrecoverableError, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { createAugmenter } from '../../augment/index.js';
import { Backbone, type BackboneOptions } from '../../backbone/backbone.js';
import { encodeEntry } from '../../features/cache.js';
import { extractFeatures } from '../../features/extract.js';
import type { LoadLimits } from '../../input/load-image.js';
import { preprocessKey } from '../../preprocess/config.js';
import { checkRedis, connectionOptions, parseRedisUrl, queueName } from './connection.js';
import { FEATURE_JOB, FEATURE_RESULT_TTL_S, featureResultKey, type FeatureItemResult, type FeatureJobData, type FeatureJobResult } from './feature-jobs.js';
import { serveQueue, type ServeOptions } from './serve.js';
import { cpuMsSince, type WorkerEvent } from './worker.js';

/** Options of `runFeatureWorker`. */
export interface FeatureWorkerOptions extends Omit<ServeOptions, 'onError'> {
  /** Redis URL: redis://host:port[/db]. */
  queue: string;
  /** Backbone name (registry) or, with `runtime.path`, the name of that file's architecture. */
  backbone: string;
  runtime?: BackboneOptions;
  limits?: Partial<LoadLimits>;
  onEvent?: (e: WorkerEvent) => void;
}

/** A running feature worker. */
export interface FeatureWorker {
  readonly backbone: Backbone;
  /** As ScreenWorker.close: prompt when Redis is unreachable; false when a batch still ran after `graceMs` (default 60 s). */
  close(graceMs?: number): Promise<boolean>;
}

/** The outcome of request `i` of a worker's extraction, with the entry bytes when it succeeded. */
type Part = { result: FeatureItemResult; entry?: Uint8Array };

/**
 * A feature-extraction worker: loads the backbone once, then takes batches from the queue of
 * that backbone file (`features-<sha256 start>`), extracts their features (augmented copies made
 * here, with the coordinator's parameters) and stores each image's cache entry, exactly as the
 * coordinator's cache would hold it, in the job's result blob. A bad file is an error outcome;
 * a fault of the worker fails the attempt and the queue retries it with backoff.
 */
export async function runFeatureWorker(opts: FeatureWorkerOptions): Promise<FeatureWorker> {
  const addr = parseRedisUrl(opts.queue);
  await checkRedis(addr);
  const backbone = await Backbone.load(opts.backbone, opts.runtime);
  const name = queueName('features', backbone.modelSha256);
  const preprocess = preprocessKey(backbone.manifest.preprocess);
  const emit = opts.onEvent ?? (() => undefined);
  const results = new Redis(connectionOptions(addr));
  results.on('error', () => undefined);

  const processJob = async (job: Job<FeatureJobData>): Promise<FeatureJobResult> => {
    const data = job.data;
    if (job.name !== FEATURE_JOB || data?.v !== 1 || !Array.isArray(data.items) || (data.tensor !== 'pooled' && data.tensor !== 'map')) {
      throw new UnrecoverableError(`job ${job.id} is not a deep-covid feature batch`);
    }
    if (data.model !== backbone.modelSha256) throw new UnrecoverableError(`job ${job.id} is for backbone file ${data.model.slice(0, 12)}…, this worker has ${backbone.modelSha256.slice(0, 12)}…`);
    if (data.preprocess !== preprocess) {
      throw new UnrecoverableError(`job ${job.id} wants preprocessing ${data.preprocess}, this worker's ${backbone.located.path} resolves to ${preprocess} (a JSON sidecar beside one of the model files?)`);
    }
    const augmenter = data.augment ? createAugmenter(data.augment.params, data.augment.seed) : undefined;
    if (data.augment && augmenter!.key !== data.augment.key) {
      throw new UnrecoverableError(`job ${job.id} wants augmentation ${data.augment.key}, this worker makes ${augmenter!.key} (another deep-covid version?)`);
    }
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const res = await extractFeatures(backbone, data.items.map((it) => ({ file: it.path, variant: it.variant })), {
      tensor: data.tensor, augmenter, cache: null, batchSize: Math.max(1, data.items.length), limits: opts.limits,
    });
    const failure = new Map(res.failures.map((f) => [`${f.variant}\n${f.file}`, f]));
    const parts = data.items.map((it, i): Part => {
      if (res.ok[i] && res.sha256[i] !== it.sha256) {
        return { result: { error: `${it.path}: content changed since it was listed (sha256 ${res.sha256[i].slice(0, 12)}…, expected ${it.sha256.slice(0, 12)}…)`, kind: 'changed' } };
      }
      if (res.ok[i]) {
        const entry = encodeEntry(res.features!.subarray(i * res.dim, (i + 1) * res.dim), res.shape);
        return { result: { bytes: entry.length }, entry };
      }
      const f = failure.get(`${it.variant}\n${it.path}`);
      return { result: { error: f?.message ?? `${it.path}: no features (unknown reason)`, kind: f?.problem ?? 'other' } };
    });
    const blob = Buffer.concat(parts.flatMap((p) => (p.entry ? [p.entry] : [])));
    // before the job completes: a coordinator that sees it completed finds the blob
    await results.set(featureResultKey(name, job.id ?? ''), blob, 'EX', FEATURE_RESULT_TTL_S);
    emit({ type: 'batch', jobId: job.id ?? '', images: parts.length, errors: parts.filter((p) => !p.entry).length, ms: performance.now() - t0, cpuMs: cpuMsSince(c0) });
    return { v: 1, items: parts.map((p) => p.result) };
  };

  const server = await serveQueue(addr, name, processJob, { ...opts, onError: (message) => emit({ type: 'error', message }) });
  emit({ type: 'ready', queue: name, redis: addr.display, serves: `features of ${backbone.name} (${backbone.modelSha256.slice(0, 12)}…)` });
  return {
    backbone,
    async close(graceMs = 60_000) {
      const clean = await server.close(graceMs);
      results.disconnect();
      if (clean) await backbone.release();
      return clean;
    },
  };
}
