import { join } from 'node:path';
import type { LoadLimits } from '../input/load-image.js';
import { loadGreyImage } from '../input/load-image.js';
import { createProgress, type ProgressListener } from '../util/progress.js';
import type { DedupeOptions } from './dedupe.js';
import { FingerprintTable } from './fingerprint-table.js';
import { fingerprintFile } from './fingerprint.js';
import { readManifestRows } from './manifest.js';
import { forEachLimit } from './pool.js';
import { comparablePath } from './confine.js';
import { readDataset, type Dataset, type DatasetItem, type RepeatedEntry } from './read.js';
import { parseAge } from './sources.js';

/** A duplicate pair found by `dataset check`. */
export interface CheckPair {
  a: string;
  b: string;
  splitA: string;
  splitB: string;
  kind: string;
  distance: number;
  correlation: number;
  detail: number;
}

/** The report of `dataset check` (also written with --json). */
export interface CheckReport {
  root: string;
  images: number;
  patients: number | null;
  counts: { split: string; class: string; images: number; patients: number | null }[];
  bySource: { split: string; class: string; source: string; images: number }[];
  byView: { split: string; class: string; view: string; images: number }[];
  patientOverlap: { patient: string; splits: string[]; files: string[] }[];
  /** Files listed more than once with the same label and split (counted once). */
  duplicateListings: RepeatedEntry[];
  /** Files listed with different labels or splits (train refuses such a dataset). */
  conflictingListings: RepeatedEntry[];
  /** Labels read as another spelling of the positive class ("COVID-19" → "covid"). */
  respelledLabels: Dataset['respelled'];
  crossSplitDuplicates: CheckPair[];
  withinSplitDuplicates: CheckPair[];
  /** Near-duplicate candidates (pHash) whose similarity was checked. */
  candidates: number;
  unreadable: { file: string; message: string }[];
  sizes: { width: Stats; height: Stats; shorterSide: Stats } | null;
  bitDepths: Record<string, number>;
  formats: Record<string, number>;
  balance: Record<string, { covid: number; non: number; covidFraction: number }>;
  warnings: string[];
  /** True when a patient, a duplicate or a file listed twice crosses splits. */
  leakage: boolean;
  seconds: number;
  imagesPerSecond: number;
}

/** Minimum, median and maximum. */
export interface Stats {
  min: number;
  median: number;
  max: number;
}

/** Options of a check. */
export interface CheckOptions {
  /** Receives progress events (the library never prints). */
  onProgress?: ProgressListener;
  concurrency?: number;
  dedupe?: Partial<DedupeOptions>;
  limits?: Partial<LoadLimits>;
}

function stats(v: number[]): Stats {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return { min: s[0], median: s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2, max: s[s.length - 1] };
}

function countBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const t of items) {
    const k = key(t);
    const l = m.get(k);
    if (l) l.push(t);
    else m.set(k, [t]);
  }
  return m;
}

/**
 * Checks a dataset folder for leakage and hazards: counts per split, class, source and view;
 * patients in more than one split; exact and near-duplicate images across splits (leakage) and
 * within a split; unreadable files; sizes and bit depths; class balance; and warnings for source
 * shortcuts, paediatric images among adults and age gaps between classes.
 */
export async function checkDataset(dir: string, opts: CheckOptions = {}): Promise<CheckReport> {
  const t0 = performance.now();
  const ds = await readDataset(dir, { conflicts: 'report' });
  const items = ds.items;
  const n = items.length;
  const manifest = await readManifestRows(join(ds.root, 'manifest.csv'));
  const meta = new Map<string, Record<string, string>>();
  for (const r of manifest?.rows ?? []) if (r.file && !meta.has(comparablePath(r.file))) meta.set(comparablePath(r.file), r);

  const table = new FingerprintTable(n);
  const widths: number[] = [];
  const heights: number[] = [];
  const bitDepths: Record<string, number> = {};
  const formats: Record<string, number> = {};
  const unreadable: { file: string; message: string }[] = [];
  const progress = createProgress({ label: 'dataset check', total: n, onProgress: opts.onProgress });
  await forEachLimit(items, opts.concurrency ?? 4, async (it, i) => {
    try {
      const { fp } = await fingerprintFile(it.file, opts.limits);
      table.set(i, fp);
      widths.push(fp.width);
      heights.push(fp.height);
      bitDepths[fp.bitDepth] = (bitDepths[fp.bitDepth] ?? 0) + 1;
      formats[fp.format] = (formats[fp.format] ?? 0) + 1;
    } catch (err) {
      unreadable.push({ file: it.rel, message: err instanceof Error ? err.message : String(err) });
    }
    progress.tick();
  });
  progress.done();

  // duplicates among readable images
  const dup = await table.duplicates((i) => loadGreyImage(items[i].file, opts.limits), opts.dedupe);
  const idx = dup.idx;
  // an augmented copy and its original (or two copies of one original) are duplicates by design
  const origin = (it: DatasetItem) => meta.get(it.rel)?.derived_from || it.rel;
  const crossSplitDuplicates: CheckPair[] = [];
  const withinSplitDuplicates: CheckPair[] = [];
  for (const p of dup.pairs) {
    const a = items[idx[p.i]];
    const b = items[idx[p.j]];
    if (origin(a) === origin(b)) continue;
    const pair = { a: a.rel, b: b.rel, splitA: a.split, splitB: b.split, kind: p.kind, distance: p.distance, correlation: r3(p.correlation), detail: r3(p.detail) };
    (a.split === b.split ? withinSplitDuplicates : crossSplitDuplicates).push(pair);
  }

  // patients across splits
  const patientOverlap: CheckReport['patientOverlap'] = [];
  for (const [patient, its] of countBy(items.filter((i) => i.patient), (i) => i.patient!)) {
    const splits = [...new Set(its.map((i) => i.split))].sort();
    if (splits.length > 1) patientOverlap.push({ patient, splits, files: its.map((i) => i.rel) });
  }

  const counts: CheckReport['counts'] = [];
  const bySource: CheckReport['bySource'] = [];
  const byView: CheckReport['byView'] = [];
  const balance: CheckReport['balance'] = {};
  for (const [key, its] of [...countBy(items, (i) => `${i.split}\0${i.className}`)].sort()) {
    const [split, cls] = key.split('\0');
    const patients = ds.hasPatients ? new Set(its.map((i) => i.patient)).size : null;
    counts.push({ split, class: cls, images: its.length, patients });
    for (const [src, s] of [...countBy(its, (i) => i.source ?? 'unknown')].sort()) bySource.push({ split, class: cls, source: src, images: s.length });
    for (const [view, v] of [...countBy(its, (i) => i.view || 'unknown')].sort()) byView.push({ split, class: cls, view, images: v.length });
  }
  for (const [split, its] of countBy(items, (i) => i.split)) {
    const covid = its.filter((i) => i.label === 1).length;
    balance[split] = { covid, non: its.length - covid, covidFraction: r3(covid / its.length) };
  }

  const warnings = hazards(items, meta, ds.hasPatients);
  if (withinSplitDuplicates.length > 0) warnings.push(`${withinSplitDuplicates.length} duplicate pair(s) within a split (no leakage, but they weigh twice): see withinSplitDuplicates`);
  if (unreadable.length > 0) warnings.push(`${unreadable.length} file(s) cannot be read: see unreadable`);
  if (ds.duplicates.length > 0) warnings.push(`${ds.duplicates.length} file(s) listed more than once with the same label and split (counted once): see duplicateListings`);
  if (ds.conflicts.length > 0) warnings.push(`${ds.conflicts.length} file(s) listed with different labels or splits (train refuses this dataset until one row per file is left): see conflictingListings`);
  for (const r of ds.respelled) warnings.push(`label "${r.written}" read as "${r.className}" (${r.count} image(s))`);
  const splitConflict = ds.conflicts.some((c) => new Set(c.entries.map((e) => e.split)).size > 1);
  const seconds = (performance.now() - t0) / 1000;
  return {
    root: ds.root, images: n, patients: ds.hasPatients ? new Set(items.map((i) => i.patient)).size : null,
    counts, bySource, byView, patientOverlap, duplicateListings: ds.duplicates, conflictingListings: ds.conflicts, respelledLabels: ds.respelled, crossSplitDuplicates, withinSplitDuplicates, candidates: dup.candidates, unreadable,
    sizes: widths.length ? { width: stats(widths), height: stats(heights), shorterSide: stats(widths.map((w, k) => Math.min(w, heights[k]))) } : null,
    bitDepths, formats, balance, warnings,
    leakage: patientOverlap.length > 0 || crossSplitDuplicates.length > 0 || splitConflict,
    seconds: r3(seconds), imagesPerSecond: r3(n / Math.max(seconds, 1e-9)),
  };
}

/** Known hazards of COVID chest X-ray sets, as human-readable warnings. */
function hazards(items: DatasetItem[], meta: Map<string, Record<string, string>>, hasPatients: boolean): string[] {
  const out: string[] = [];
  if (!hasPatients) out.push('no patient id for every image (no manifest.csv with patient_id): patient leakage between splits cannot be checked');
  // sources that supply only one class let a model learn the source instead of the disease
  const classesOf = new Map<string, Set<number>>();
  for (const i of items) {
    const s = i.source ?? 'unknown';
    (classesOf.get(s) ?? classesOf.set(s, new Set()).get(s)!).add(i.label);
  }
  for (const [label, name] of [[1, 'covid'], [0, 'non']] as const) {
    const its = items.filter((i) => i.label === label);
    if (its.length === 0) continue;
    const only = its.filter((i) => classesOf.get(i.source ?? 'unknown')!.size === 1);
    if (only.length / its.length >= 0.5) {
      const srcs = [...new Set(only.map((i) => i.source ?? 'unknown'))].join(', ');
      out.push(`source shortcut: ${Math.round((100 * only.length) / its.length)}% of ${name} images come from source(s) with no image of the other class (${srcs}); a model can score by recognising the source instead of the disease: report results per source`);
    }
  }
  const ages = items.map((i) => ({ label: i.label, age: parseAge(meta.get(i.rel)?.age) })).filter((a) => Number.isFinite(a.age));
  const children = ages.filter((a) => a.age < 18).length;
  if (children > 0 && children < ages.length) out.push(`paediatric images mixed with adults: ${children} of ${ages.length} images with a known age are under 18; age can become a shortcut`);
  const med = (label: number) => {
    const v = ages.filter((a) => a.label === label).map((a) => a.age);
    return v.length ? stats(v).median : NaN;
  };
  const gap = med(1) - med(0);
  if (Math.abs(gap) >= 10) out.push(`age gap between classes: median age covid ${med(1)} vs non ${med(0)} (${gap > 0 ? '+' : ''}${gap} years); compare results within age bands`);
  return out;
}

function r3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Formats rows as a plain text table (first row is the header; numbers right-aligned). */
export function formatTable(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0].map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  return cells
    .map((r, ri) => r.map((v, c) => (ri > 0 && typeof rows[ri][c] === 'number' ? v.padStart(widths[c]) : v.padEnd(widths[c]))).join('  ').trimEnd())
    .join('\n');
}

/** The human-readable check report. */
export function formatCheckReport(r: CheckReport): string[] {
  const lines: string[] = [];
  lines.push(`dataset ${r.root}: ${r.images} images${r.patients !== null ? `, ${r.patients} patients` : ''}`);
  lines.push('', formatTable([['split', 'class', 'images', 'patients'], ...r.counts.map((c) => [c.split, c.class, c.images, c.patients ?? '-'])]));
  lines.push('', formatTable([['split', 'class', 'source', 'images'], ...r.bySource.map((c) => [c.split, c.class, c.source, c.images])]));
  lines.push('', formatTable([['split', 'class', 'view', 'images'], ...r.byView.map((c) => [c.split, c.class, c.view, c.images])]));
  lines.push('', `balance: ${Object.entries(r.balance).map(([s, b]) => `${s} ${b.covid} covid / ${b.non} non (${(100 * b.covidFraction).toFixed(1)}% covid)`).join('; ')}`);
  if (r.sizes) {
    const s = r.sizes;
    lines.push(`sizes: width ${s.width.min}–${s.width.max} (median ${s.width.median}), height ${s.height.min}–${s.height.max} (median ${s.height.median}), shorter side ${s.shorterSide.min}–${s.shorterSide.max}`);
  }
  lines.push(`bit depth: ${Object.entries(r.bitDepths).map(([k, v]) => `${k}-bit ${v}`).join(', ')}; formats: ${Object.entries(r.formats).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`duplicates: ${r.crossSplitDuplicates.length} across splits, ${r.withinSplitDuplicates.length} within a split (${r.candidates} near-duplicate candidates checked)`);
  for (const u of r.unreadable) lines.push(`unreadable: ${u.message}`);
  const listing = (e: RepeatedEntry['entries'][number]) => `${e.row !== undefined ? `row ${e.row}` : e.rel} "${e.label}" in ${e.split}`;
  for (const c of r.conflictingListings) lines.push(`conflict: ${c.file} is listed as ${c.entries.map(listing).join(' and as ')}`);
  for (const d of r.duplicateListings) lines.push(`listed twice: ${d.file} (${d.entries.map(listing).join(', ')})`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  if (r.leakage) {
    lines.push('', 'LEAKAGE between splits:');
    for (const p of r.patientOverlap) lines.push(`  patient ${p.patient} is in ${p.splits.join(' and ')}: ${p.files.join(', ')}`);
    for (const c of r.conflictingListings.filter((x) => new Set(x.entries.map((e) => e.split)).size > 1)) lines.push(`  ${c.file} is listed in ${[...new Set(c.entries.map((e) => e.split))].join(' and ')}`);
    for (const p of r.crossSplitDuplicates) {
      lines.push(`  duplicate (${p.kind}${p.kind === 'near' ? `, pHash distance ${p.distance}, r=${p.correlation}, detail r=${p.detail}` : ''}): ${p.a} [${p.splitA}] ~ ${p.b} [${p.splitB}]`);
    }
  } else {
    lines.push('', 'no leakage: no patient and no duplicate image in more than one split');
  }
  return lines;
}
