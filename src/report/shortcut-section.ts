/** The shortcut check stored in a run folder (`shortcut-check.json`), as a report section: a table and the verdict in words. */
import type { ShortcutReport } from '../explain/shortcut.js';

function isReport(v: unknown): v is ShortcutReport {
  const o = v as Partial<ShortcutReport> | null;
  return typeof o === 'object' && o !== null && typeof o.auc?.full?.auc === 'number' && typeof o.auc?.lungsHidden?.auc === 'number' && typeof o.flag?.flagged === 'boolean';
}

const ci = (a: { auc: number; lower: number | null; upper: number | null }) =>
  `${a.auc.toFixed(3)}${a.lower === null || a.upper === null ? '' : ` (${a.lower.toFixed(3)}–${a.upper.toFixed(3)})`}`;
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a');

/** Markdown lines of the shortcut-check section (heading not included). */
export function shortcutCheckMarkdown(check: unknown): string[] {
  if (check === null || check === undefined) {
    return ['No shortcut check was found in the run folder (`shortcut-check.json`; `deep-covid train` and `reproduce` run it unless told not to). Until one is run, treat the source hazards above as unresolved.'];
  }
  if (!isReport(check)) return ['`shortcut-check.json` in the run folder is not a shortcut-check report of this version of deep-covid: run `deep-covid shortcut-check` again.'];
  const r = check;
  const out: string[] = [
    `Is the model looking at the lungs? The ${r.split} split (${r.n} images, ${r.positives} COVID) was scored three times: as is, with a fixed lung region hidden, and with only that region kept. ${r.region.note[0].toUpperCase()}${r.region.note.slice(1)}.`,
    '',
    '| images | AUC (DeLong 95% CI) |',
    '|---|---|',
    `| full | ${ci(r.auc.full)} |`,
    `| lung region hidden | ${ci(r.auc.lungsHidden)} |`,
    `| only the lung region kept | ${ci(r.auc.lungsOnly)} |`,
    '',
    `Share of the CAM heatmap's positive mass outside the lung region: ${pct(r.camOutside.all)} (COVID images ${pct(r.camOutside.covid)}); the region leaves ${pct(r.camOutside.areaShareOutside)} of the crop outside.`,
    '',
  ];
  if (r.flag.flagged) out.push(`**Flagged: possible shortcut learning.** ${r.flag.reasons.join('; ')}.`);
  else out.push('**Not flagged:** hiding the lungs takes the model\'s discrimination away, as it should.');
  out.push('', `Rule: ${r.flag.rule}.`);
  return out;
}
