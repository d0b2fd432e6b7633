import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { DatasetError, UsageError } from '../errors.js';
import type { GreyImage } from '../input/grey-image.js';
import { loadGreyImage, readSource, type LoadLimits } from '../input/load-image.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { sha256Hex } from '../util/hash.js';
import { createProgress, type ProgressListener } from '../util/progress.js';
import { DEFAULT_DEDUPE, type DedupeOptions } from './dedupe.js';
import { FingerprintTable } from './fingerprint-table.js';
import { fingerprintDecoded } from './fingerprint.js';
import { writeManifest, type ManifestRow } from './manifest.js';
import { forEachLimit } from './pool.js';
import { readSources, type DropCounts, type SourceConfig, type SourceRecord } from './sources.js';
import { assignSplits, parseSplitSpec, type ClassName } from './split.js';
import { UnionFind } from './union-find.js';

/** A `dataset build` config (JSON). */
export interface BuildConfig {
  sources: SourceConfig[];
  /** Shorter side of the written PNGs (default 256; smaller images are kept as they are, never upscaled). */
  size?: number;
  /** "paper" (default), {fractions: {...}} or {counts: {...}}. */
  split?: unknown;
  seed?: number;
  /** 'keep-one' (default): one copy of each duplicate group is kept; 'group': all copies, in one split. */
  duplicates?: 'keep-one' | 'group';
  dedupe?: Partial<DedupeOptions>;
}

/** Options of a build run. */
export interface BuildOptions {
  /** Replace an existing built dataset in the output folder. */
  force?: boolean;
  /** Receives progress events (the library never prints). */
  onProgress?: ProgressListener;
  /** Images decoded at once (default 4). */
  concurrency?: number;
  limits?: Partial<LoadLimits>;
}

/** A duplicate pair as reported (paths are `<source>:<source_path>`). */
export interface ReportedPair {
  a: string;
  b: string;
  kind: string;
  distance: number;
  correlation: number;
  detail: number;
}

/** What a build did: written counts, drops with reasons, duplicates, timing. */
export interface BuildReport {
  out: string;
  counts: Record<string, Record<ClassName, number>>;
  targets: Record<string, Record<ClassName, number>>;
  written: number;
  selected: number;
  dropped: DropCounts;
  unreadable: { file: string; message: string }[];
  duplicatePairs: ReportedPair[];
  /** Copies removed by 'keep-one' (source paths) and groups dropped for conflicting labels. */
  removedDuplicates: string[];
  conflictingLabels: string[][];
  /** Images not needed to meet the split counts. */
  unassigned: number;
  seconds: number;
  imagesPerSecond: number;
}

/** Reads and checks a build config file. */
export async function loadBuildConfig(path: string): Promise<BuildConfig> {
  let cfg: BuildConfig;
  try {
    cfg = JSON.parse(await readFile(path, 'utf8')) as BuildConfig;
  } catch (err) {
    throw new UsageError(`config ${path} cannot be read as JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!Array.isArray(cfg.sources) || cfg.sources.length === 0) throw new UsageError(`config ${path}: "sources" must list at least one source`);
  if (cfg.size !== undefined && (!Number.isInteger(cfg.size) || cfg.size < 16)) throw new UsageError(`config ${path}: "size" must be a whole number >= 16`);
  if (cfg.duplicates !== undefined && cfg.duplicates !== 'keep-one' && cfg.duplicates !== 'group') throw new UsageError(`config ${path}: "duplicates" must be "keep-one" or "group"`);
  return cfg;
}

/** Output file name: `<source>-<10 hex of sha1(source:source_path)>.png` (stable across rebuilds). */
export function outputName(rec: SourceRecord): string {
  return `${rec.source}-${createHash('sha1').update(`${rec.source}:${rec.sourcePath}`).digest('hex').slice(0, 10)}.png`;
}

/** Resizes so the shorter side is `size` (Lanczos-3; never upscales) and encodes an 8-bit grey PNG. */
export async function toDatasetPng(img: GreyImage, size: number): Promise<Buffer> {
  let p = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 1 } });
  if (Math.min(img.width, img.height) > size) {
    p = p.resize(img.width <= img.height ? { width: size, kernel: 'lanczos3' } : { height: size, kernel: 'lanczos3' });
  }
  return p.toColourspace('b-w').png({ compressionLevel: 6 }).toBuffer();
}

async function prepareOut(out: string, force: boolean): Promise<void> {
  const entries = await readdir(out).catch(() => null);
  if (entries && entries.length > 0) {
    // only a folder this command built (it has build-report.json) is ever deleted
    const built = await stat(join(out, 'build-report.json')).then(() => true, () => false);
    if (!force || !built) {
      throw new DatasetError(`output folder ${out} is not empty: ${built ? 'add --force to rebuild it' : 'give a new or empty folder (--force only replaces a folder built by dataset build)'}`);
    }
    await rm(out, { recursive: true, force: true });
  }
  await mkdir(out, { recursive: true });
}

/**
 * Builds a dataset in the paper's layout (`<split>/<covid|non>/*.png` plus manifest.csv and
 * build-report.json) from the sources of a config. Streams: each image is read, fingerprinted
 * and converted once, with at most `concurrency` images decoded at a time, into a staging folder;
 * after duplicates are merged and groups split, staged files are renamed into place.
 */
export async function buildDataset(cfg: BuildConfig, configDir: string, outDir: string, opts: BuildOptions = {}): Promise<BuildReport> {
  const t0 = performance.now();
  const out = resolve(outDir);
  const size = cfg.size ?? 256;
  const spec = parseSplitSpec(cfg.split);
  const { records: all, dropped } = await readSources(cfg.sources, configDir);
  // a file listed twice is one image
  const seenPath = new Set<string>();
  const records = all.filter((r) => !seenPath.has(r.path) && seenPath.add(r.path));
  if (records.length === 0) throw new DatasetError('no image passed the source filters; see the config (views, paOnly, minAge, labels)');
  await prepareOut(out, !!opts.force);
  const staging = join(out, '.staging');
  await mkdir(staging, { recursive: true });

  const n = records.length;
  const table = new FingerprintTable(n);
  const unreadable: { file: string; message: string }[] = [];
  const progress = createProgress({ label: 'dataset build', total: n, onProgress: opts.onProgress });
  await forEachLimit(records, opts.concurrency ?? 4, async (rec, i) => {
    try {
      const { bytes } = await readSource(rec.path);
      const img = await loadGreyImage({ bytes, name: rec.path }, opts.limits);
      const { fp } = await fingerprintDecoded(img, sha256Hex(bytes));
      await writeFileAtomic(join(staging, outputName(rec)), await toDatasetPng(img, size));
      table.set(i, fp);
    } catch (err) {
      unreadable.push({ file: rec.path, message: err instanceof Error ? err.message : String(err) });
    }
    progress.tick();
  });
  progress.done();

  // duplicates among the readable images, confirmed on the staged (already small) copies
  const dup = await table.duplicates((i) => loadGreyImage(join(staging, outputName(records[i]))), { ...DEFAULT_DEDUPE, ...cfg.dedupe });
  const idx = dup.idx;
  const sha = table.sha256;
  const name = (k: number) => `${records[idx[k]].source}:${records[idx[k]].sourcePath}`;
  const duplicatePairs = dup.pairs.map((p) => ({ a: name(p.i), b: name(p.j), kind: p.kind, distance: p.distance, correlation: round(p.correlation), detail: round(p.detail) }));

  // drop conflicting-label groups; with keep-one keep the first copy of every group
  const keep = new Uint8Array(idx.length).fill(1);
  const byGroup = new Map<number, number[]>();
  dup.group.forEach((g, k) => (byGroup.get(g) ?? byGroup.set(g, []).get(g)!).push(k));
  const removedDuplicates: string[] = [];
  const conflictingLabels: string[][] = [];
  for (const members of byGroup.values()) {
    if (members.length < 2) continue;
    if (new Set(members.map((k) => records[idx[k]].label)).size > 1) {
      conflictingLabels.push(members.map(name));
      for (const k of members) keep[k] = 0;
    } else if (cfg.duplicates !== 'group') {
      for (const k of members.slice(1)) {
        keep[k] = 0;
        removedDuplicates.push(name(k));
      }
    }
  }

  // groups: patients merged with their duplicates' patients (also those of removed copies)
  const uf = new UnionFind(idx.length);
  const firstOfPatient = new Map<string, number>();
  idx.forEach((i, k) => {
    const f = firstOfPatient.get(records[i].patient);
    if (f === undefined) firstOfPatient.set(records[i].patient, k);
    else uf.union(f, k);
  });
  dup.group.forEach((g, k) => uf.union(g, k));
  const group = uf.groups();
  const kept = [...Array(idx.length).keys()].filter((k) => keep[k]);
  const { split, targets } = assignSplits(kept.map((k) => ({ label: records[idx[k]].label, source: records[idx[k]].source, group: group[k] })), spec, cfg.seed ?? 0);

  const rows: ManifestRow[] = [];
  const counts: Record<string, Record<ClassName, number>> = {};
  for (const s of targets.splits) counts[s] = { covid: 0, non: 0 };
  for (let m = 0; m < kept.length; m++) {
    const s = split[m];
    if (s === null) continue;
    const i = idx[kept[m]];
    const rec = records[i];
    const file = `${s}/${rec.label}/${outputName(rec)}`;
    await mkdir(dirname(join(out, file)), { recursive: true });
    await rename(join(staging, outputName(rec)), join(out, file));
    counts[s][rec.label]++;
    rows.push({
      split: s, label: rec.label, file, source: rec.source, source_path: rec.sourcePath, patient_id: rec.patient, view: rec.view,
      age: rec.age, sex: rec.sex, license: rec.license, finding: rec.finding, sha256: sha[i], derived_from: '',
    });
  }
  await rm(staging, { recursive: true, force: true });
  rows.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  await writeManifest(join(out, 'manifest.csv'), rows);
  const seconds = (performance.now() - t0) / 1000;
  const report: BuildReport = {
    out, counts, targets: targets.targets, written: rows.length, selected: n, dropped, unreadable, duplicatePairs, removedDuplicates, conflictingLabels,
    unassigned: kept.length - rows.length, seconds: round(seconds), imagesPerSecond: round(n / Math.max(seconds, 1e-9)),
  };
  await writeFileAtomic(join(out, 'build-report.json'), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
