import { mkdir, open, readFile, truncate, type FileHandle } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { RunError, UsageError } from '../errors.js';
import { formatCsv, parseCsv } from '../util/csv.js';

/** What became of one input: a decision at the run's threshold, a refusal by the input gate, or an error. */
export type Decision = 'covid' | 'non' | 'refused' | 'error';

/** The gate column of an error row: nothing was assessed. */
export const GATE_NOT_ASSESSED = 'not assessed';

/** One results row: one per input. `probability` is null on error rows. */
export interface ScreenRow {
  /** The input as the source names it (path relative to a source folder, or as listed). */
  file: string;
  /** sha256 of the file's content; '' when it could not be read. */
  sha256: string;
  probability: number | null;
  decision: Decision;
  threshold: number;
  /** Input-gate verdict (passed / warned / refused + reasons); 'not assessed' for now. */
  gate: string;
  /** '' or what went wrong: an input problem (empty, truncated, not-an-image, …), 'unreadable', 'changed' or 'failed'. */
  error_kind: string;
  error: string;
  /** Identity of the model that made the row (see ModelInfo.id). */
  model: string;
}

/** Column order of CSV results (and key order of JSON lines). */
export const ROW_COLUMNS = ['file', 'sha256', 'probability', 'decision', 'threshold', 'gate', 'error_kind', 'error', 'model'] as const;

/** Output formats. */
export type ResultsFormat = 'csv' | 'jsonl';

/** The format of a results file: the explicit one, else by extension (.csv; .jsonl, .ndjson, .json). */
export function resultsFormat(path: string, explicit?: string): ResultsFormat {
  if (explicit !== undefined) {
    if (explicit === 'csv' || explicit === 'jsonl') return explicit;
    throw new UsageError(`results format must be csv or jsonl, got "${explicit}"`);
  }
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  throw new UsageError(`cannot tell the results format of ${path} from its extension: name it .csv or .jsonl, or give the format`);
}

/** One line per row, always: line breaks inside fields (error messages, odd file names) become spaces. */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

function clean(row: ScreenRow): ScreenRow {
  return { ...row, file: oneLine(row.file), error: oneLine(row.error), gate: oneLine(row.gate) };
}

/** Formats rows as complete lines of the given format (no CSV header). */
export function formatRows(rows: ScreenRow[], format: ResultsFormat): string {
  const cleaned = rows.map(clean);
  if (format === 'jsonl') {
    return cleaned.map((r) => JSON.stringify(Object.fromEntries(ROW_COLUMNS.map((c) => [c, r[c]]))) + '\n').join('');
  }
  return formatCsv(cleaned.map((r) => ({ ...r, probability: r.probability ?? '' })), [...ROW_COLUMNS], { header: false });
}

const CSV_HEADER = ROW_COLUMNS.join(',');

function rowFrom(o: Record<string, unknown>, where: string): ScreenRow {
  const str = (k: string) => (o[k] === undefined || o[k] === null ? '' : String(o[k]));
  const p = o.probability;
  const probability = p === null || p === undefined || p === '' ? null : Number(p);
  const decision = str('decision');
  if (!str('file') || (probability !== null && !Number.isFinite(probability)) || !['covid', 'non', 'refused', 'error'].includes(decision)) {
    throw new RunError(`${where} is not a screening results row (file, probability and decision expected): delete it or give a new results file`);
  }
  return {
    file: str('file'), sha256: str('sha256'), probability, decision: decision as Decision, threshold: Number(o.threshold),
    gate: str('gate'), error_kind: str('error_kind'), error: str('error'), model: str('model'),
  };
}

function parseRows(text: string, format: ResultsFormat, path: string): ScreenRow[] {
  if (format === 'jsonl') {
    return text.split('\n').filter((l) => l.trim() !== '').map((line, i) => {
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch {
        throw new RunError(`${path} line ${i + 1} is not JSON: the file is not screening results in JSON lines; give a new results file`);
      }
      return rowFrom(o as Record<string, unknown>, `${path} line ${i + 1}`);
    });
  }
  const firstLine = text.slice(0, text.indexOf('\n'));
  if (firstLine.replace(/^\uFEFF/, '') !== CSV_HEADER) {
    throw new RunError(`${path} does not start with the screening results header (${CSV_HEADER}): give a new results file`);
  }
  return parseCsv(text).map((r, i) => rowFrom(r, `${path} row ${i + 2}`));
}

/** What opening a results file found. */
export interface OpenedResults {
  results: ResultsFile;
  /** Complete rows already in the file. */
  rows: ScreenRow[];
  /** True when an incomplete last line (a write cut short by a crash) was removed. */
  droppedTornLine: boolean;
}

/**
 * An append-only results file. Rows are written as complete lines in one append followed by
 * fsync, so after a crash the file holds every row that was reported written, plus at most one
 * torn last line, which `open` removes. Appends are serialised: rows of concurrent batches never
 * interleave.
 */
export class ResultsFile {
  private chain: Promise<void> = Promise.resolve();

  private constructor(readonly path: string, readonly format: ResultsFormat, private readonly handle: FileHandle) {}

  /**
   * Opens (or creates) a results file and reads the rows it holds. Rows of another model are
   * refused: one file, one model, so a resumed screening never mixes models.
   */
  static async open(path: string, format: ResultsFormat, model: string): Promise<OpenedResults> {
    const abs = resolve(path);
    await mkdir(dirname(abs), { recursive: true });
    let text = await readFile(abs, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw new RunError(`cannot read results file ${abs}: ${err.message}`, { cause: err });
    });
    let droppedTornLine = false;
    if (text !== null && text.length > 0 && !text.endsWith('\n')) {
      const keep = text.lastIndexOf('\n') + 1;
      await truncate(abs, Buffer.byteLength(text.slice(0, keep)));
      text = text.slice(0, keep);
      droppedTornLine = true;
    }
    const rows = text ? parseRows(text, format, abs) : [];
    const other = rows.find((r) => r.model !== model);
    if (other) {
      throw new RunError(`${abs} holds results of another model (${other.model.slice(0, 12)}…, e.g. ${other.file}), not of this run's model (${model.slice(0, 12)}…): give a new results file, or screen with the run that wrote it`);
    }
    const handle = await open(abs, 'a');
    const results = new ResultsFile(abs, format, handle);
    if (!text && format === 'csv') await results.write(`${CSV_HEADER}\n`);
    return { results, rows, droppedTornLine };
  }

  private write(text: string): Promise<void> {
    const next = this.chain.then(async () => {
      await this.handle.appendFile(text);
      await this.handle.datasync();
    });
    // a failed write fails its caller; later writes still run
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Appends rows durably (returns after fsync). */
  append(rows: ScreenRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return this.write(formatRows(rows, this.format));
  }

  async close(): Promise<void> {
    await this.chain;
    await this.handle.close();
  }
}
