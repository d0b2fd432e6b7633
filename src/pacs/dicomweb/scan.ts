/**
 * DICOMweb scan: find CR/DX series (QIDO-RS), filter frontal chest films by their
 * header, fetch each one (WADO-RS), predict, and store the results back into its study
 * (STOW-RS). `watchDicomWeb` repeats the scan on an interval with a state file, so a restart
 * resumes where it stopped.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DeepCovidError, PacsError, UsageError } from '../../errors.js';
import { analyseInstance, uidRef, type InstanceOutcome } from '../analyse.js';
import { addCounts, countOutcome, emptyCounts, type PacsCounts, type PacsEvent } from '../events.js';
import type { PacsModel } from '../model.js';
import { CHEST_FILM_MODALITIES, chestFilmCheck } from '../source.js';
import { WatchState } from '../watch-state.js';
import { jsonValue, type DicomWebClient } from './client.js';

/** Options of one scan. */
export interface ScanOptions {
  client: DicomWebClient;
  model: PacsModel;
  /** Only studies on or after this date (YYYYMMDD). */
  since?: string;
  /** Only this study. */
  study?: string;
  /** Whether an instance (by reference) needs no work; default: none is done. */
  isDone?: (ref: string) => boolean;
  /** Called after each instance's outcome is final (results stored, or skipped / failed). */
  onOutcome?: (o: InstanceOutcome) => Promise<void>;
  onEvent?: (e: PacsEvent) => void;
  signal?: AbortSignal;
  maxPixels?: number;
}

/** Attributes asked of QIDO-RS beyond the defaults, to filter before retrieving. */
const INCLUDE = ['00080060', '00180015', '00185101', '00080070'];

/** Checks a StudyDate bound (YYYYMMDD or YYYY-MM-DD) and returns it as YYYYMMDD. */
export function studyDate(s: string): string {
  const d = s.replace(/-/g, '');
  if (!/^\d{8}$/.test(d) || Number.isNaN(Date.parse(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`))) {
    throw new UsageError(`"${s}" is not a date: give YYYY-MM-DD or YYYYMMDD`);
  }
  return d;
}

/** One pass over the PACS. Resolves with the pass's counts. */
export async function scanDicomWeb(o: ScanOptions): Promise<PacsCounts> {
  const t0 = performance.now();
  const total = emptyCounts();
  const query: Record<string, string> = { Modality: CHEST_FILM_MODALITIES.join(',') };
  if (o.since) query.StudyDate = `${studyDate(o.since)}-`;
  if (o.study) query.StudyInstanceUID = o.study;
  // collect the series first (storing results changes the lists under a running search), grouped by study
  const studies = new Map<string, string[]>();
  for await (const s of o.client.searchSeries(query, o.signal)) {
    const study = jsonValue(s, '0020000D');
    const series = jsonValue(s, '0020000E');
    if (!study || !series) continue;
    const list = studies.get(study) ?? [];
    if (!list.includes(series)) list.push(series);
    studies.set(study, list);
  }
  for (const [studyUid, series] of studies) {
    o.signal?.throwIfAborted();
    addCounts(total, await scanStudy(o, studyUid, series));
  }
  o.onEvent?.({ type: 'pass', counts: total, studies: studies.size, ms: performance.now() - t0 });
  return total;
}

async function scanStudy(o: ScanOptions, studyUid: string, seriesUids: string[]): Promise<PacsCounts> {
  const t0 = performance.now();
  const studyRef = uidRef(studyUid);
  const counts = emptyCounts();
  for (const seriesUid of seriesUids) {
    const instances = [];
    try {
      for await (const i of o.client.searchInstances(studyUid, seriesUid, { includefield: INCLUDE.join(',') }, o.signal)) instances.push(i);
    } catch (err) {
      if (!(err instanceof DeepCovidError)) throw err;
      o.onEvent?.({ type: 'error', studyRef, message: err.message });
      counts.failed++;
      continue;
    }
    for (const inst of instances) {
      o.signal?.throwIfAborted();
      const sop = jsonValue(inst, '00080018');
      const ref = uidRef(sop);
      if (o.isDone?.(ref)) {
        countOutcome(counts, 'already-done');
        continue;
      }
      const { outcome, stored } = await processInstance(o, inst, studyUid, seriesUid, sop, ref, studyRef);
      countOutcome(counts, outcome);
      await o.onOutcome?.(outcome);
      o.onEvent?.({ type: 'instance', outcome, stored });
    }
  }
  o.onEvent?.({ type: 'study', studyRef, counts, ms: performance.now() - t0 });
  return counts;
}

async function processInstance(o: ScanOptions, inst: Record<string, { vr: string; Value?: unknown[] }>, study: string, series: string, sop: string, ref: string, studyRef: string): Promise<{ outcome: InstanceOutcome; stored: number }> {
  // the search answer may already say it is no frontal chest film; then nothing is fetched
  const pre = chestFilmCheck({ modality: jsonValue(inst, '00080060'), bodyPartExamined: jsonValue(inst, '00180015'), viewPosition: jsonValue(inst, '00185101'), manufacturer: jsonValue(inst, '00080070') });
  if (!pre.eligible && jsonValue(inst, '00080060')) return { outcome: { status: 'skipped', ref, studyRef, reason: pre.reason }, stored: 0 };
  try {
    if (!series || !sop) throw new PacsError('the instance search answer lacks the series or SOP instance UID');
    const bytes = await o.client.retrieveInstance(study, series, sop, o.signal);
    const outcome = await analyseInstance(o.model, bytes, ref, { maxPixels: o.maxPixels });
    if (outcome.status !== 'analysed') return { outcome, stored: 0 };
    const res = await o.client.store(study, outcome.results.map((r) => r.bytes), o.signal);
    if (res.failed.length) throw new PacsError(`the PACS refused ${res.failed.length} of ${outcome.results.length} result objects (failure reason ${res.failed.map((f) => f.reason ?? '?').join(', ')})`);
    return { outcome, stored: outcome.results.length };
  } catch (err) {
    if (!(err instanceof DeepCovidError)) throw err;
    return { outcome: { status: 'failed', ref, studyRef, error: err.message }, stored: 0 };
  }
}

/** Options of the watch service. */
export interface WatchOptions extends Omit<ScanOptions, 'isDone' | 'onOutcome' | 'study'> {
  /** State file (JSON); created when absent. */
  statePath: string;
  /** Pause between passes, ms. */
  intervalMs: number;
  /** Stop after this many passes (default: until aborted). */
  passes?: number;
}

/** Scans again and again until aborted; resumable through the state file. */
export async function watchDicomWeb(o: WatchOptions): Promise<void> {
  // the first start searches from the day before, unless told otherwise; later starts keep the stored bound
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  const state = await WatchState.open(o.statePath, studyDate(yesterday));
  if (o.since) state.since = studyDate(o.since);
  await state.save();
  for (let pass = 0; o.passes === undefined || pass < o.passes; pass++) {
    if (pass > 0) {
      try {
        await sleep(o.intervalMs, undefined, { signal: o.signal });
      } catch {
        return;
      }
    }
    if (o.signal?.aborted) return;
    try {
      await scanDicomWeb({
        ...o,
        since: state.since,
        isDone: (ref) => state.isDone(ref),
        onOutcome: async (out) => {
          if (out.status === 'failed') await state.markFailed(out.ref);
          else await state.markDone(out.ref, out.status);
        },
      });
    } catch (err) {
      if (o.signal?.aborted) return;
      if (!(err instanceof DeepCovidError)) throw err;
      // the PACS may be down for a while: report and try again next pass
      o.onEvent?.({ type: 'error', message: err.message });
    }
  }
}
