/**
 * Converts the subset of Markdown the reports write into HTML: headings, paragraphs, bullet
 * lists, pipe tables (with alignment row), fenced code blocks, **bold**, *italic*, `code` and
 * [links](relative/path.html) to files beside the report.
 * A paragraph that starts with an image line becomes a <figure>; the caller supplies the figure's
 * HTML (inline SVG or a data: URI image), so the page never references another file.
 */

/** HTML-escapes text. */
export function htmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** ASCII punctuation, which a backslash makes literal (CommonMark). */
const ESCAPABLE = /[!-/:-@[-`{-~]/;

/** Inline Markdown (escaped text, backslash escapes, `code`, **bold**, *italic*) to HTML. */
export function inlineHtml(s: string): string {
  // escaped characters are set aside as private-use placeholders so no rule below can see them
  const literal: string[] = [];
  let out = '';
  let text = '';
  const flush = () => {
    out += htmlEscape(text)
      // links to files beside the report only ([text](../x/report.html)): no scheme, no host
      .replace(/\[([^\]]+)\]\(((?![a-z][a-z0-9+.-]*:|\/\/)[^)\s]+)\)/gi, '<a href="$2">$1</a>')
      .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
      .replace(/(^|[\s(])\*([^*\s][^*]*?)\*(?=[\s.,;:)]|$)/g, '$1<em>$2</em>')
      .replace(/\uE000/g, () => htmlEscape(literal.shift() ?? ''));
    text = '';
  };
  const src = s.replace(/\uE000/g, '');
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\' && i + 1 < src.length && ESCAPABLE.test(src[i + 1])) {
      literal.push(src[++i]);
      text += '\uE000';
    } else if (c === '`' && src.indexOf('`', i + 1) > i) {
      const end = src.indexOf('`', i + 1);
      flush();
      out += `<code>${htmlEscape(src.slice(i + 1, end))}</code>`;
      i = end;
    } else {
      text += c;
    }
  }
  flush();
  return out;
}

function slug(text: string, used: Map<string, number>): string {
  const base = text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'section';
  const k = used.get(base) ?? 0;
  used.set(base, k + 1);
  return k === 0 ? base : `${base}-${k + 1}`;
}

/** The cells of a table row, split at pipes that are not backslash-escaped. */
function tableCells(line: string): string[] {
  const row = line.trim().replace(/^\|/, '').replace(/(?<!\\)\|$/, '');
  const cells: string[] = [];
  let cell = '';
  for (let i = 0; i < row.length; i++) {
    if (row[i] === '\\' && i + 1 < row.length) {
      cell += row[i] + row[++i];
    } else if (row[i] === '|') {
      cells.push(cell.trim());
      cell = '';
    } else cell += row[i];
  }
  cells.push(cell.trim());
  return cells;
}

function tableHtml(lines: string[]): string {
  const head = tableCells(lines[0]);
  const hasAlign = lines.length > 1 && /^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$/.test(lines[1].trim());
  const align = hasAlign ? tableCells(lines[1]).map((c) => (c.endsWith(':') ? (c.startsWith(':') ? 'center' : 'right') : 'left')) : head.map(() => 'left');
  const cell = (tag: string, text: string, i: number) => {
    // an estimate with its interval reads as one value: keep it on one line
    const cls = [align[i] && align[i] !== 'left' ? align[i] : '', /^[\d.]+%? \([\d.]+–[\d.]+\)/.test(text) ? 'nw' : ''].filter(Boolean).join(' ');
    return `<${tag}${cls ? ` class="${cls}"` : ''}>${inlineHtml(text)}</${tag}>`;
  };
  const body = lines.slice(hasAlign ? 2 : 1).map((l) => `<tr>${tableCells(l).map((c, i) => cell('td', c, i)).join('')}</tr>`);
  return `<table>\n<thead><tr>${head.map((c, i) => cell('th', c, i)).join('')}</tr></thead>\n<tbody>\n${body.join('\n')}\n</tbody>\n</table>`;
}

const IMAGE_LINE = /^!\[([^\]]*)\]\(([^)]+)\)$/;

/**
 * Markdown to HTML body. `figure(path, alt)` returns the HTML of the figure an image line refers
 * to; an image the callback does not know is rendered as its alt text only.
 */
export function markdownToHtml(md: string, figure: (path: string, alt: string) => string | null): string {
  const lines = md.replace(/\r\n/g, '\n').split('\n');
  const out: string[] = [];
  const used = new Map<string, number>();
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') {
      i++;
      continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) {
      const level = h[1].length;
      out.push(`<h${level} id="${slug(h[2], used)}">${inlineHtml(h[2])}</h${level}>`);
      i++;
      continue;
    }
    if (line.startsWith('```')) {
      const body: string[] = [];
      i++;
      while (i < lines.length && !lines[i].startsWith('```')) body.push(lines[i++]);
      i++;
      out.push(`<pre><code>${htmlEscape(body.join('\n'))}</code></pre>`);
      continue;
    }
    if (line.startsWith('|')) {
      const rows: string[] = [];
      while (i < lines.length && lines[i].startsWith('|')) rows.push(lines[i++]);
      out.push(`<div class="table-wrap">${tableHtml(rows)}</div>`);
      continue;
    }
    if (/^\s*- /.test(line)) {
      const items: string[] = [];
      while (i < lines.length && /^\s*- /.test(lines[i])) {
        let item = lines[i++].replace(/^\s*- /, '');
        // continuation lines indented under the item
        while (i < lines.length && /^ {2,}\S/.test(lines[i]) && !/^\s*- /.test(lines[i])) item += ' ' + lines[i++].trim();
        items.push(`<li>${inlineHtml(item)}</li>`);
      }
      out.push(`<ul>\n${items.join('\n')}\n</ul>`);
      continue;
    }
    const para: string[] = [];
    while (i < lines.length && lines[i].trim() !== '' && !/^(#{1,6}\s|```|\||\s*- )/.test(lines[i])) para.push(lines[i++]);
    const img = IMAGE_LINE.exec(para[0].trim());
    if (img) {
      const inner = figure(img[2], img[1]) ?? `<p>${htmlEscape(img[1])}</p>`;
      const caption = para.slice(1).join(' ');
      out.push(`<figure>\n${inner}\n${caption ? `<figcaption>${inlineHtml(caption)}</figcaption>\n` : ''}</figure>`);
    } else {
      out.push(`<p>${inlineHtml(para.join(' '))}</p>`);
    }
  }
  return out.join('\n');
}
