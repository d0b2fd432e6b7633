/**
 * The 2-class softmax cross-entropy shared by every head kernel: from the logits (l0, l1) and the
 * target class, the nll and g = d(coefficient * nll)/d(logits), computed with a stable log-softmax.
 */
export function softmaxLoss(l0: number, l1: number, target: number, coefficient: number, grad: Float64Array): number {
  const m = l0 > l1 ? l0 : l1;
  const e0 = Math.exp(l0 - m);
  const e1 = Math.exp(l1 - m);
  const sum = e0 + e1;
  const lse = m + Math.log(sum);
  grad[0] = coefficient * (e0 / sum - (target === 0 ? 1 : 0));
  grad[1] = coefficient * (e1 / sum - (target === 1 ? 1 : 0));
  return lse - (target === 1 ? l1 : l0);
}
