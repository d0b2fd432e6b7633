import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';

/**
 * Spreadsheet formula injection (OWASP "CSV injection"): a cell that starts with = + - @ tab or
 * CR is run as a formula by Excel, LibreOffice and Google Sheets, so a manifest field such as
 * `=HYPERLINK("http://…","click")` would become a live link in predictions.csv. Such cells are
 * written with a leading apostrophe (shown by spreadsheets as plain text), and so is a cell that
 * already starts with apostrophes before one of those characters, so that reading strips exactly
 * one and every value comes back as it was. Plain numbers such as -0.5 or +3 stay numbers.
 */
const FORMULA_START = /^'*[=+\-@\t\r]/;
const PLAIN_NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** A cell value made safe to open in a spreadsheet (see FORMULA_START). */
export function neutraliseFormula(value: string): string {
  return FORMULA_START.test(value) && !PLAIN_NUMBER.test(value) ? `'${value}` : value;
}

/** The inverse of neutraliseFormula. */
function restoreFormula(value: string): string {
  return value.startsWith("'") && FORMULA_START.test(value) && !PLAIN_NUMBER.test(value.slice(1)) ? value.slice(1) : value;
}

/** Parses CSV text with a header row into records (RFC 4180 quoting; BOM tolerated; neutralised formulas restored). */
export function parseCsv(text: string): Record<string, string>[] {
  return parse(text, { columns: true, skip_empty_lines: true, bom: true, trim: false, cast: (value: string) => restoreFormula(value) }) as Record<string, string>[];
}

/** Formats records as CSV with the given column order (fields quoted where needed, formulas neutralised); `header: false` for appending rows. */
export function formatCsv(rows: Record<string, unknown>[], columns: string[], opts: { header?: boolean } = {}): string {
  return stringify(rows, { header: opts.header ?? true, columns, cast: { string: (value: string) => neutraliseFormula(value) } });
}
