/**
 * Data text (a source name, a file name, a manifest field) placed into Markdown that deep-covid
 * writes (summary.md, report.md, report.html through markdown-html.ts). Markdown has no quoting,
 * so a field holding a newline and "# Heading", or a "|", would otherwise change the document.
 */

/**
 * Text from data (a source name, a file name, a manifest field) as inline Markdown that shows
 * exactly that text: line breaks and other control characters become spaces (a newline in a field
 * must not start a heading, a list or a table row) and Markdown punctuation is backslash-escaped
 * (so `|` cannot add a table cell and `*`, `[` or `<` cannot format, link or inject HTML).
 */
export function mdText(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').replace(/[\\`*_[\]{}<>#|!~&]/g, '\\$&');
}

/** A code span of data text (e.g. a path), or escaped text when it holds a backtick. */
export function mdCode(s: string): string {
  const flat = s.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ');
  return flat.includes('`') ? mdText(flat) : `\`${flat}\``;
}
