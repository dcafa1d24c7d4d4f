/**
 * Training of the selector in plain TypeScript: for each calibration question the positives are
 * the catalog plans that answered it correctly. A multi-positive InfoNCE loss pulls the question's
 * projection towards them and away from the rest; a pairwise Bradley-Terry loss asks that each
 * right plan outranks each wrong one. Seeded, so a seed reproduces the run.
 */
import { Rng } from '../../src/util/rng.ts';
import { forward, initSelector, normalisePlans, type SelectorParams, type SelectorShape } from './model.ts';

/**
 * One training example: a question embedding and either the indices of its positive plans (every
 * catalog plan labelled, as calibration measures) or explicit preference pairs [right, wrong] over
 * the few plans that were tried (an APT round's plan pairs): pairs only teach the pairwise loss.
 */
export interface SelectorExample {
  embedding: Float32Array;
  positives: number[];
  pairs?: [number, number][];
}

/** Gradients, same layout as the parameters. */
export interface SelectorGrads {
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
  plans: Float32Array;
  /** Zero-length when the selector has no plan prior. */
  bias: Float32Array;
}

type ParamKey = keyof SelectorGrads;
const KEYS: ParamKey[] = ['w1', 'b1', 'w2', 'b2', 'plans', 'bias'];

/** Zeroed gradients for a parameter set. */
export function zeroGrads(p: SelectorParams): SelectorGrads {
  return {
    w1: new Float32Array(p.w1.length),
    b1: new Float32Array(p.b1.length),
    w2: new Float32Array(p.w2.length),
    b2: new Float32Array(p.b2.length),
    plans: new Float32Array(p.plans.length),
    bias: new Float32Array(p.bias?.length ?? 0),
  };
}

/** How the two losses are mixed (defaults: InfoNCE alone, as before). */
export interface LossWeights {
  /** Weight of the multi-positive InfoNCE loss (default 1). */
  infoNce?: number;
  /** Weight of the pairwise Bradley-Terry loss (default 0). */
  pairwise?: number;
  /** Temperature of the Bradley-Terry logits (s_right - s_wrong) / t (default: the InfoNCE temperature). */
  pairwiseTemperature?: number;
}

/**
 * The loss of one example and, when `grads` is given, d loss / d params added into it (scaled by
 * `scale`). Two terms on the plan scores s (cosines):
 * - multi-positive InfoNCE, averaged over the positives (SupCon's L_out form):
 *   mean_p -log(e^{s_p/t} / sum_all e^{s/t}); unlike -log(sum_pos / sum_all), it pulls every
 *   positive up, which is what a top-N choice needs;
 * - pairwise Bradley-Terry over every (right plan i, wrong plan j) pair of the question:
 *   mean -log sigmoid((s_i - s_j) / t_bt), which only asks that right plans outrank wrong ones.
 */
export function exampleLoss(
  p: SelectorParams,
  ex: SelectorExample,
  grads?: SelectorGrads,
  scale = 1,
  planCache = normalisePlans(p),
  weights: LossWeights = {},
): number {
  const t = forward(p, ex.embedding, planCache);
  const m = p.numPlans;
  const ds = new Float64Array(m);
  let loss = 0;
  const wNce = weights.infoNce ?? 1;
  const wBt = weights.pairwise ?? 0;
  if (ex.pairs) {
    // Only the plans that were tried are labelled: Bradley-Terry over the given pairs, nothing else.
    loss += pairLoss(t.scores, ex.pairs, weights.pairwise ?? 1, weights.pairwiseTemperature ?? p.temperature, ds);
    if (grads) backward(p, t, ds, grads, scale);
    return loss;
  }
  const isPos = new Uint8Array(m);
  for (const j of ex.positives) isPos[j] = 1;
  if (wNce > 0) {
    const tau = p.temperature;
    let maxZ = -Infinity;
    for (let j = 0; j < m; j++) maxZ = Math.max(maxZ, t.scores[j]! / tau);
    let sumAll = 0;
    let sumPosZ = 0;
    let numPos = 0;
    const ez = new Float64Array(m);
    for (let j = 0; j < m; j++) {
      ez[j] = Math.exp(t.scores[j]! / tau - maxZ);
      sumAll += ez[j]!;
      if (isPos[j]) {
        sumPosZ += t.scores[j]! / tau - maxZ;
        numPos++;
      }
    }
    loss += wNce * (Math.log(sumAll) - sumPosZ / numPos);
    // d loss / d s_j = (softmax_j - [j positive] / numPos) / tau
    for (let j = 0; j < m; j++) ds[j] += (wNce * (ez[j]! / sumAll - (isPos[j] ? 1 / numPos : 0))) / tau;
  }
  if (wBt > 0) {
    const pos: number[] = [];
    const neg: number[] = [];
    for (let j = 0; j < m; j++) (isPos[j] ? pos : neg).push(j);
    loss += pairLoss(t.scores, pos.flatMap((i) => neg.map((j): [number, number] => [i, j])), wBt, weights.pairwiseTemperature ?? p.temperature, ds);
  }
  if (grads) backward(p, t, ds, grads, scale);
  return loss;
}

/**
 * Weighted mean Bradley-Terry loss -log sigmoid((s_i - s_j) / tau) over pairs (i right, j wrong);
 * adds d loss / d s into `ds`. Computed stably: -log sigmoid(z) = softplus(-z), d/dz = -sigmoid(-z).
 */
function pairLoss(scores: ArrayLike<number>, pairs: readonly [number, number][], w: number, tau: number, ds: Float64Array): number {
  if (pairs.length === 0 || w <= 0) return 0;
  let sum = 0;
  for (const [i, j] of pairs) {
    const z = (scores[i]! - scores[j]!) / tau;
    sum += z > 0 ? Math.log1p(Math.exp(-z)) : -z + Math.log1p(Math.exp(z));
    const g = (w / pairs.length / tau) * (1 / (1 + Math.exp(z)));
    ds[i] -= g;
    ds[j] += g;
  }
  return (w * sum) / pairs.length;
}

/** Adds d loss / d params into `grads`, given d loss / d scores of one forward pass. */
function backward(p: SelectorParams, t: ReturnType<typeof forward>, ds: Float64Array, grads: SelectorGrads, scale: number): void {
  const { inputDim: d, hiddenDim: hd, embedDim: e, numPlans: m } = p;
  const du = new Float64Array(e);
  for (let j = 0; j < m; j++) {
    const g = ds[j]! * scale;
    if (g === 0) continue;
    if (grads.bias.length) grads.bias[j] += g;
    const vOff = j * e;
    // dv_j = g * u, projected through the normalisation of plan j
    let vdot = 0;
    for (let k = 0; k < e; k++) vdot += t.v[vOff + k]! * t.u[k]!;
    const inv = 1 / t.planNorms[j]!;
    for (let k = 0; k < e; k++) {
      du[k] += g * t.v[vOff + k]!;
      grads.plans[vOff + k] += g * (t.u[k]! - t.v[vOff + k]! * vdot) * inv;
    }
  }
  let udot = 0;
  for (let k = 0; k < e; k++) udot += t.u[k]! * du[k]!;
  const dq = new Float64Array(e);
  for (let k = 0; k < e; k++) dq[k] = (du[k]! - t.u[k]! * udot) / t.qNorm;
  const dh = new Float64Array(hd);
  for (let k = 0; k < e; k++) {
    const g = dq[k]!;
    grads.b2[k] += g;
    for (let r = 0; r < hd; r++) {
      grads.w2[k * hd + r] += g * t.h[r]!;
      dh[r] += g * p.w2[k * hd + r]!;
    }
  }
  for (let r = 0; r < hd; r++) {
    const da = dh[r]! * (1 - t.h[r]! * t.h[r]!);
    grads.b1[r] += da;
    for (let i = 0; i < d; i++) grads.w1[r * d + i] += da * t.xn[i]!;
  }
}

export interface TrainOptions {
  seed: number;
  epochs: number;
  batchSize?: number;
  learningRate?: number;
  weightDecay?: number;
  hiddenDim?: number;
  embedDim?: number;
  temperature?: number;
  /** InfoNCE and Bradley-Terry weights (default: InfoNCE alone). */
  loss?: LossWeights;
  /** Trailing input values that are text features (recorded in the parameters for the export). */
  featureDim?: number;
  /** Learn a prior per plan beside the cosine (default false). */
  planBias?: boolean;
  /** Called after each epoch with the mean training loss. */
  onEpoch?: (epoch: number, loss: number) => void;
}

/** Per-feature mean and standard deviation of the embeddings (std floored to avoid division by 0). */
export function standardisation(xs: Float32Array[], dim: number): { mean: Float32Array; std: Float32Array } {
  const mean = new Float32Array(dim);
  const std = new Float32Array(dim);
  for (const x of xs) for (let i = 0; i < dim; i++) mean[i] += x[i]! / xs.length;
  for (const x of xs) for (let i = 0; i < dim; i++) std[i] += (x[i]! - mean[i]!) ** 2 / xs.length;
  for (let i = 0; i < dim; i++) std[i] = Math.max(Math.sqrt(std[i]!), 1e-4);
  return { mean, std };
}

/** Trains a new selector with Adam on the examples (those without positives are skipped). */
export function trainSelector(examples: SelectorExample[], numPlans: number, opts: TrainOptions): SelectorParams {
  const usable = examples.filter((ex) => (ex.pairs ? ex.pairs.length > 0 : ex.positives.length > 0 && ex.positives.length < numPlans));
  if (usable.length === 0) throw new Error('no training example has both positive and negative plans');
  const inputDim = usable[0]!.embedding.length;
  const shape: SelectorShape = { inputDim, featureDim: opts.featureDim ?? 0, hiddenDim: opts.hiddenDim ?? 64, embedDim: opts.embedDim ?? 32, numPlans };
  const p = initSelector(shape, opts.seed, opts.temperature ?? 0.1, opts.planBias ?? false);
  const st = standardisation(usable.map((ex) => ex.embedding), inputDim);
  p.inputMean = st.mean;
  p.inputStd = st.std;
  // Text features are small counts, often constant within a tier: a floor keeps an unseen value
  // (a '%' in a prompt of a tier without percentages) from blowing up the standardised input.
  for (let i = inputDim - (opts.featureDim ?? 0); i < inputDim; i++) p.inputStd[i] = Math.max(p.inputStd[i]!, 0.1);
  const rng = new Rng(opts.seed + 1);
  const lr = opts.learningRate ?? 3e-3;
  const wd = opts.weightDecay ?? 1e-4;
  const bs = opts.batchSize ?? 32;
  const m1 = zeroGrads(p);
  const m2 = zeroGrads(p);
  let step = 0;
  const order = usable.map((_, i) => i);
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    rng.shuffle(order);
    let total = 0;
    for (let b = 0; b < order.length; b += bs) {
      const batch = order.slice(b, b + bs);
      const g = zeroGrads(p);
      const cache = normalisePlans(p);
      for (const i of batch) total += exampleLoss(p, usable[i]!, g, 1 / batch.length, cache, opts.loss);
      step++;
      const c1 = 1 - 0.9 ** step;
      const c2 = 1 - 0.999 ** step;
      for (const key of KEYS) {
        const w = p[key] ?? new Float32Array(0);
        const gk = g[key];
        const a = m1[key];
        const v = m2[key];
        const decay = key === 'w1' || key === 'w2' ? wd : 0;
        for (let i = 0; i < w.length; i++) {
          a[i] = 0.9 * a[i]! + 0.1 * gk[i]!;
          v[i] = 0.999 * v[i]! + 0.001 * gk[i]! * gk[i]!;
          w[i] -= lr * ((a[i]! / c1) / (Math.sqrt(v[i]! / c2) + 1e-8) + decay * w[i]!);
        }
      }
    }
    opts.onEpoch?.(epoch, total / usable.length);
  }
  return p;
}
