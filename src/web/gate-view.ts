/**
 * The input gate's verdict as the pages show it (the server page and the client-side page): a
 * refused image gets the reasons and no probability; a warned one gets the warnings before it.
 */
import type { GateReason } from '../gate/types.js';
import { h } from './dom.js';

function reasonList(reasons: readonly GateReason[]): HTMLElement {
  return h('ul', { class: 'gate-reasons' }, ...reasons.map((x) => h('li', { 'data-code': x.code }, x.message)));
}

/** The box that replaces the probability of a refused image: why, in words; notes folded away. */
export function refusalBox(reasons: readonly GateReason[], notice: string | null): HTMLElement {
  const refusals = reasons.filter((x) => x.level === 'refuse');
  const others = reasons.filter((x) => x.level !== 'refuse');
  return h('div', { class: 'refusal', role: 'alert', 'data-testid': 'refused' },
    h('p', { class: 'verdict verdict-refused', 'data-testid': 'label', 'data-label': 'refused' }, 'Not assessed: this model was not built for this image.'),
    reasonList(refusals),
    h('p', { class: 'refusal-why' }, 'The model only gives P(COVID) for frontal chest radiographs like the ones it was trained on. A number for anything else would be a confident answer to a question it cannot answer, so none is shown.'),
    others.length ? h('details', { class: 'facts-box' }, h('summary', {}, 'Other notes'), h('ul', { class: 'facts' }, ...others.map((x) => h('li', {}, x.message)))) : null,
    notice ? h('p', { class: 'notice' }, notice) : null);
}

/** The warnings shown before P(COVID), or null when there are none. */
export function gateWarningBox(reasons: readonly GateReason[]): HTMLElement | null {
  const warnings = reasons.filter((x) => x.level === 'warn');
  return warnings.length ? h('div', { class: 'gate-warning', role: 'note', 'data-testid': 'gate-warning' }, h('strong', {}, 'Read with care: '), reasonList(warnings)) : null;
}
