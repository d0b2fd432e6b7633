/**
 * The verdict from the gate's layers. What refuses and what warns, and why:
 * - Refused (no P(COVID) at all): facts that say the image is not a frontal chest radiograph —
 *   a DICOM header naming another modality, another body part, or a lateral or oblique view; an
 *   image too small, too elongated or too uniform to hold a chest X-ray; a colour picture; and
 *   features beyond the far cut-off (a score fewer than one in a million in-distribution images
 *   would reach). A probability for such an image would be a confident answer to a question the
 *   model cannot answer.
 * - Warned (P(COVID) shown, the warning first): facts that make the answer less trustworthy but
 *   are common in real chest films — a score between the two cut-offs (lateral films, unusual
 *   crops, heavy annotations), an unusual view code, low resolution or contrast, coloured marks.
 * - Noted: what could not be checked (DICOM tags absent, no density model in the run).
 */
import type { GateLevel, GateReason, GateResult, GateVerdict, HeaderCheck, ImageCheck, OodCheck } from './types.js';

/** The checked layers of one input; null where a layer does not apply or was not run. */
export interface GateParts {
  header: HeaderCheck | null;
  image: ImageCheck | null;
  ood: OodCheck | null;
}

const RANK: Record<GateLevel, number> = { refuse: 0, warn: 1, note: 2 };

/** How a switched-off gate marks the refusals it turned into warnings. */
const WOULD_REFUSE = '(Would have been refused.) ';

/** True for a reason that refused, or that would have refused had the gate not been switched off. */
export function refusesOrWould(reason: GateReason): boolean {
  return reason.level === 'refuse' || reason.message.startsWith(WOULD_REFUSE);
}

/** The message when a run has no density model. */
export const NO_OOD_MODEL: GateReason = {
  code: 'no-ood-model',
  level: 'note',
  message: 'This model has no record of what its training images look like (gate.json is missing: the run predates the gate), so whether the image resembles them was not checked.',
};

/**
 * Combines the layers into one result: refused if any reason refuses, else warned if any warns,
 * else passed. With `disabled` (a researcher's choice) nothing is refused: every refusal becomes
 * a warning that says what the gate would have done, and the result is stamped `disabled`.
 * `noOodModel` adds the note that the learned check could not run.
 */
export function combineGate(parts: GateParts, opts: { disabled?: boolean; noOodModel?: boolean } = {}): GateResult {
  let reasons = [...(parts.header?.reasons ?? []), ...(parts.image?.reasons ?? []), ...(parts.ood?.reasons ?? [])];
  if (opts.noOodModel && !parts.ood) reasons.push(NO_OOD_MODEL);
  if (opts.disabled) {
    reasons = reasons.map((r) => (r.level === 'refuse' ? { ...r, level: 'warn' as const, message: `${WOULD_REFUSE}${r.message}` } : r));
    reasons.unshift({ code: 'gate-disabled', level: 'warn', message: 'The input gate was switched off: this image was not refused whatever it is, and P(COVID) may be meaningless.' });
  }
  reasons.sort((a, b) => RANK[a.level] - RANK[b.level]);
  const verdict: GateVerdict = reasons.some((r) => r.level === 'refuse') ? 'refused' : reasons.some((r) => r.level === 'warn') ? 'warned' : 'passed';
  return {
    verdict,
    reasons,
    header: parts.header?.facts ?? null,
    image: parts.image?.facts ?? null,
    ood: parts.ood?.facts ?? null,
    ...(opts.disabled ? { disabled: true as const } : {}),
  };
}

/** True when the gate lets the image have a P(COVID) (passed or warned). */
export function gateAllows(result: GateResult): boolean {
  return result.verdict !== 'refused';
}

/** True when the gate refused or flagged the image (anything but a clean pass). */
export function gateFlags(result: GateResult): boolean {
  return result.verdict !== 'passed';
}
