import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { createAugmenter, type AugmentParams } from '../../augment/index.js';
import type { Backbone } from '../../backbone/backbone.js';
import { InputError, type InputProblem } from '../../errors.js';
import { decodeEntry, type FeatureCache } from '../../features/cache.js';
import { featureKeyParts, featureShape, type ExtractFailure, type ExtractResult, type FeatureRequest } from '../../features/extract.js';
import { readSource } from '../../input/load-image.js';
import { preprocessKey } from '../../preprocess/config.js';
import { sha256Hex } from '../../util/hash.js';
import { createProgress, type ProgressListener } from '../../util/progress.js';
import { HASH_READS, inLanes, limiter } from '../drive.js';
import { queueName } from './connection.js';
import { openCoordinator, type CoordinatorOptions, type JobKind } from './coordinator.js';
import { FEATURE_JOB, featureResultKey, featureResultOf, type FeatureJobData, type FeatureJobItem } from './feature-jobs.js';

/** Options of `extractFeaturesOnQueue`. */
export interface QueueExtractOptions {
  /** 'pooled' vectors for linear heads, 'map' for the SqueezeNet head and CAM. */
  tensor: 'pooled' | 'map';
  /** Where the features go (the coordinator is its only writer). */
  cache: FeatureCache;
  /** How variants > 0 are made (createAugmenter's parameters and seed); required when any request has one. */
  augment?: { params?: Partial<AugmentParams>; seed: number };
  /** Images per job (default 20). */
  batchSize?: number;
  /** Jobs enqueued and not yet collected (default: about 256 MiB of results, at most 256 jobs). */
  window?: number;
  queueOptions?: Partial<Omit<CoordinatorOptions, 'window'>>;
  signal?: AbortSignal;
  label?: string;
  onProgress?: ProgressListener;
  /** Status changes worth telling the user: a queue outage and recovery, no worker serving the queue. */
  onStatus?: (message: string) => void;
}

/** One image to send: the job item, and the cache key its entry goes to. */
type Pending = FeatureJobItem & { key: string };

/** What came back for one image: its cache entry (checked), or an error. */
type FeatureOutcome = { entry: Uint8Array } | { error: string; kind: string };

/** Outcome kinds that say nothing is wrong with the file itself. */
const NOT_INPUT = new Set(['failed', 'changed', 'other']);

/** Results in Redis the coordinator lets build up (outstanding jobs x their results) by default. */
const WINDOW_BYTES = 256 * 1024 * 1024;

/** Feature jobs for one backbone file; results read from the job's blob and checked entry by entry. */
function featureJobs(client: Redis, backbone: Backbone, base: Omit<FeatureJobData, 'items'>, dim: number): JobKind<Pending, FeatureOutcome> {
  const queue = queueName('features', backbone.modelSha256);
  const malformed = (it: Pending): FeatureOutcome => ({ error: `${it.path}: the worker returned a malformed result (is it the same deep-covid version?)`, kind: 'failed' });
  return {
    queue,
    jobName: FEATURE_JOB,
    payload: (items): FeatureJobData => ({ ...base, items: items.map(({ path, sha256, variant }) => ({ path, sha256, variant })) }),
    async outcomes(job, items) {
      const meta = featureResultOf(job.returnvalue, items.length);
      if (!meta) return items.map(malformed);
      const blob = await client.getBuffer(featureResultKey(queue, job.id ?? ''));
      if (blob === null) return null;
      const total = meta.items.reduce((s, r) => s + ('bytes' in r ? r.bytes : 0), 0);
      if (total !== blob.length) return items.map(malformed);
      let at = 0;
      return meta.items.map((r, i): FeatureOutcome => {
        if ('error' in r) return r;
        const entry = blob.subarray(at, (at += r.bytes));
        // the checksum, dtype, length and finiteness: what the cache itself would accept
        return decodeEntry(entry, dim) ? { entry } : { error: `${items[i].path}: the features from the worker are damaged or of the wrong size`, kind: 'failed' };
      });
    },
    failed: (it, reason) => ({ error: `${it.path}: failed on every attempt (${reason})`, kind: 'failed' }),
    itemKey: (it) => jobKey([it.key]),
    discard: async (key) => { await client.del(featureResultKey(queue, key)); },
    noWorker: `start workers with \`--backbone ${backbone.name}\` and the same model file (sha256 ${backbone.modelSha256.slice(0, 12)}…)`,
  };
}

/** The job id of a batch: its images' cache keys (content, model, preprocessing, tensor, augmentation). */
function jobKey(cacheKeys: string[]): string {
  return `f${sha256Hex(cacheKeys.join('\n'))}`;
}

/**
 * Fills `cache` with the features of `requests`, computed by `deep-covid worker --backbone`
 * processes on a BullMQ queue at `url`. Every file is read and hashed here (its content decides
 * the cache key); images already cached are skipped, the rest go out in jobs of `batchSize`. Each
 * worker returns cache entries exactly as this machine would write them, which are checked and
 * written atomically here, the cache's only writer. Bad files come back as failures; jobs are
 * idempotent (their id is their cache keys), retried with backoff, re-delivered when a worker
 * dies, and a rerun after a crash skips what was cached. `backbone` gives the key parts and
 * shapes (it runs one blank image to learn them).
 */
export async function extractFeaturesOnQueue(url: string, backbone: Backbone, requests: FeatureRequest[], opts: QueueExtractOptions): Promise<ExtractResult> {
  const t0 = performance.now();
  const batchSize = Math.max(1, opts.batchSize ?? 20);
  const { shape, dim } = await featureShape(backbone, opts.tensor);
  const augmenter = opts.augment ? createAugmenter(opts.augment.params, opts.augment.seed) : undefined;
  const base: Omit<FeatureJobData, 'items'> = {
    v: 1, model: backbone.modelSha256, preprocess: preprocessKey(backbone.manifest.preprocess), tensor: opts.tensor,
    augment: opts.augment && augmenter ? { params: opts.augment.params ?? {}, seed: opts.augment.seed, key: augmenter.key } : null,
  };
  const window = opts.window ?? Math.max(2, Math.min(256, Math.floor(WINDOW_BYTES / (batchSize * dim * 4))));
  const coordinator = await openCoordinator(url, (client) => featureJobs(client, backbone, base, dim), { ...opts.queueOptions, onStatus: opts.onStatus, window });

  const n = requests.length;
  const hashes: string[] = new Array<string>(n).fill('');
  const ok = new Uint8Array(n);
  const failures: ExtractFailure[] = [];
  let fromCache = 0;
  let computed = 0;
  const progress = createProgress({ label: opts.label ?? `features ${backbone.name} (queue)`, total: n, onProgress: opts.onProgress });
  const fail = (i: number, message: string, kind?: string) => {
    const req = requests[i];
    // kinds that are not the file's fault (a worker failing, content changed) are no input problem
    const problem = kind && !NOT_INPUT.has(kind) ? { problem: kind as InputProblem } : {};
    failures.push({ file: req.file, variant: req.variant ?? 0, message, ...problem });
  };
  const limit = limiter(HASH_READS);

  const runBatch = async (start: number) => {
    const idx = Array.from({ length: Math.min(batchSize, n - start) }, (_, j) => start + j);
    const todo: { i: number; item: Pending }[] = [];
    let cachedHere = 0;
    await Promise.all(idx.map((i) => limit(async () => {
      const req = requests[i];
      const variant = req.variant ?? 0;
      try {
        if (variant > 0 && !augmenter) throw new InputError(req.file, 'unsupported', `variant ${variant} requested but no augmentation given`);
        if (req.bytes) throw new InputError(req.file, 'unsupported', 'an image held in memory cannot go to queue workers: they read files');
        const { bytes } = await readSource(req.file);
        const sha256 = sha256Hex(bytes);
        hashes[i] = sha256;
        const key = opts.cache.key(sha256, featureKeyParts(backbone, opts.tensor, augmenter, variant, bytes));
        if (await opts.cache.get(key, dim)) {
          ok[i] = 1;
          cachedHere++;
        } else {
          // workers on other machines read the path as it is: absolute, as this machine sees it
          todo.push({ i, item: { path: resolve(req.file), sha256, variant, key } });
        }
      } catch (err) {
        fail(i, err instanceof Error ? err.message : String(err), err instanceof InputError ? err.problem : undefined);
      }
    })));
    // one job item per cache key (the same content twice in a batch is computed once)
    todo.sort((a, b) => a.i - b.i);
    const unique = [...new Map(todo.map((t) => [t.item.key, t.item])).values()];
    if (unique.length > 0) {
      const key = jobKey(unique.map((u) => u.key));
      const outcomes = await coordinator.run(key, unique, opts.signal);
      const byKey = new Map(unique.map((u, j) => [u.key, outcomes[j]]));
      await Promise.all(unique.map(async (u) => {
        const o = byKey.get(u.key)!;
        if ('entry' in o) await opts.cache.putEncoded(u.key, o.entry);
      }));
      for (const t of todo) {
        const o = byKey.get(t.item.key)!;
        if ('entry' in o) {
          ok[t.i] = 1;
          computed++;
        } else {
          fail(t.i, o.error, o.kind);
        }
      }
      await coordinator.written(key);
    }
    fromCache += cachedHere;
    progress.tick(idx.length, cachedHere);
  };

  let stopped: boolean;
  try {
    stopped = await inLanes(n, batchSize, coordinator.concurrency, runBatch, opts.signal);
  } finally {
    progress.done();
    await coordinator.close();
  }
  if (stopped) opts.signal?.throwIfAborted();
  const seconds = (performance.now() - t0) / 1000;
  return {
    dim, shape, features: null, ok, sha256: hashes, failures,
    stats: { total: n, fromCache, computed, failed: failures.length, seconds, imagesPerSecond: n / Math.max(seconds, 1e-9) },
  };
}
