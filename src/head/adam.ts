/** Settings of the Adam optimiser (torch.optim.Adam semantics). */
export interface AdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** L2 penalty added to the gradient as torch does (grad += weightDecay * param), not decoupled. */
  weightDecay: number;
}

/** torch.optim.Adam defaults, with the Deep-COVID learning rate 1e-4. */
export const ADAM_DEFAULTS: Readonly<AdamOptions> = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

/**
 * Adam over a fixed list of parameter arrays, reproducing torch.optim.Adam (amsgrad = false,
 * maximize = false) step for step: exp_avg.lerp_(g, 1-b1); exp_avg_sq = b2*v + (1-b2)*g*g;
 * p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps).
 */
export class Adam {
  readonly options: AdamOptions;
  private readonly params: Float64Array[];
  private readonly m: Float64Array[];
  private readonly v: Float64Array[];
  /** Number of steps taken. */
  step = 0;

  constructor(params: Float64Array[], options: Partial<AdamOptions> = {}) {
    this.options = { ...ADAM_DEFAULTS, ...options };
    this.params = params;
    this.m = params.map((p) => new Float64Array(p.length));
    this.v = params.map((p) => new Float64Array(p.length));
  }

  /** One update of every parameter array with the matching gradient array (same order as the constructor). */
  update(grads: Float64Array[]): void {
    const { lr, beta1, beta2, eps, weightDecay } = this.options;
    this.step++;
    const bc1 = 1 - beta1 ** this.step;
    const bc2Sqrt = Math.sqrt(1 - beta2 ** this.step);
    const stepSize = lr / bc1;
    const w1 = 1 - beta1;
    const w2 = 1 - beta2;
    for (let t = 0; t < this.params.length; t++) {
      const p = this.params[t];
      const g = grads[t];
      const m = this.m[t];
      const v = this.v[t];
      for (let i = 0; i < p.length; i++) {
        const gi = weightDecay !== 0 ? g[i] + weightDecay * p[i] : g[i];
        m[i] += w1 * (gi - m[i]);
        v[i] = v[i] * beta2 + w2 * gi * gi;
        p[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2Sqrt + eps);
      }
    }
  }
}
