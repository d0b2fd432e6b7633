import type { AugmentParams } from '../../augment/index.js';
import { QUEUE_PREFIX } from './connection.js';

/** One image of a feature job: the file as the coordinator sees it, its content hash, which copy. */
export interface FeatureJobItem {
  path: string;
  sha256: string;
  /** 0 = the image itself, k > 0 = its k-th augmented copy. */
  variant: number;
}

/** How augmented copies (variants > 0) are made: a worker rebuilds the augmenter from this. */
export interface FeatureAugment {
  /** Parameters as given to createAugmenter (defaults filled in by it). */
  params: Partial<AugmentParams>;
  seed: number;
  /** The augmenter's key on the coordinator: a worker whose augmenter has another key refuses the job. */
  key: string;
}

/** Payload of a feature-extraction job: a batch of images for one backbone file. */
export interface FeatureJobData {
  v: 1;
  /** sha256 of the backbone file; a worker with another file refuses the job. */
  model: string;
  /** preprocessKey() of the backbone's preprocessing as the coordinator resolved it. */
  preprocess: string;
  tensor: 'pooled' | 'map';
  augment: FeatureAugment | null;
  items: FeatureJobItem[];
}

/** Name of feature jobs in their queue. */
export const FEATURE_JOB = 'features-batch';

/** What a worker returns per image: the length of its cache entry in the job's result blob, or an error. */
export type FeatureItemResult = { bytes: number } | { error: string; kind: string };

/**
 * The job's return value. The features themselves are not in it: BullMQ keeps return values as
 * JSON in the job and copies them into the queue's event stream (the last ~10,000 events), which
 * would hold gigabytes of feature maps. They go to a key of their own (featureResultKey).
 */
export interface FeatureJobResult {
  v: 1;
  items: FeatureItemResult[];
}

/** A result blob expires after this, like a finished job left behind by a coordinator that never came back. */
export const FEATURE_RESULT_TTL_S = 7 * 24 * 3600;

/** Redis key of a job's result blob: its images' feature-cache entries (encodeEntry) back to back. */
export function featureResultKey(queue: string, jobId: string): string {
  return `${QUEUE_PREFIX}:${queue}:result:${jobId}`;
}

/** The job's return value, or null when it is not one (e.g. a worker of another version). */
export function featureResultOf(value: unknown, n: number): FeatureJobResult | null {
  const r = value as FeatureJobResult | null;
  if (typeof r !== 'object' || r === null || r.v !== 1 || !Array.isArray(r.items) || r.items.length !== n) return null;
  for (const it of r.items as unknown[]) {
    const o = it as Record<string, unknown>;
    const ok = typeof o === 'object' && o !== null
      && ((Number.isInteger(o.bytes) && (o.bytes as number) > 0) || (typeof o.error === 'string' && typeof o.kind === 'string'));
    if (!ok) return null;
  }
  return r;
}
