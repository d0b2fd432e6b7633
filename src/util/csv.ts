import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';

/** Parses CSV text with a header row into records (RFC 4180 quoting; BOM tolerated). */
export function parseCsv(text: string): Record<string, string>[] {
  return parse(text, { columns: true, skip_empty_lines: true, bom: true, trim: false }) as Record<string, string>[];
}

/** Formats records as CSV with the given column order (fields quoted where needed); `header: false` for appending rows. */
export function formatCsv(rows: Record<string, unknown>[], columns: string[], opts: { header?: boolean } = {}): string {
  return stringify(rows, { header: opts.header ?? true, columns });
}
