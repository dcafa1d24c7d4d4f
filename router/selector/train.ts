/**
 * InfoNCE training of the selector in plain TypeScript: for each calibration question the
 * positives are the catalog plans that answered it correctly; the loss pulls the question's
 * projection towards them and away from the rest. Seeded, so a seed reproduces the run.
 */
import { Rng } from '../../src/util/rng.ts';
import { forward, initSelector, normalisePlans, type SelectorParams, type SelectorShape } from './model.ts';

/** One training example: a question embedding and the indices of its positive plans. */
export interface SelectorExample {
  embedding: Float32Array;
  positives: number[];
}

/** Gradients, same layout as the parameters. */
export interface SelectorGrads {
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
  plans: Float32Array;
}

type ParamKey = keyof SelectorGrads;
const KEYS: ParamKey[] = ['w1', 'b1', 'w2', 'b2', 'plans'];

/** Zeroed gradients for a parameter set. */
export function zeroGrads(p: SelectorParams): SelectorGrads {
  return {
    w1: new Float32Array(p.w1.length),
    b1: new Float32Array(p.b1.length),
    w2: new Float32Array(p.w2.length),
    b2: new Float32Array(p.b2.length),
    plans: new Float32Array(p.plans.length),
  };
}

/**
 * Multi-positive InfoNCE loss of one example, averaged over its positives (SupCon's L_out form):
 * mean_p -log(e^{s_p/t} / sum_all e^{s/t}). Unlike -log(sum_pos / sum_all), it pulls every
 * positive up, which is what a top-N choice needs. When `grads` is given, adds d loss / d params
 * into it (scaled by `scale`). Returns the loss.
 */
export function exampleLoss(
  p: SelectorParams,
  ex: SelectorExample,
  grads?: SelectorGrads,
  scale = 1,
  planCache = normalisePlans(p),
): number {
  const t = forward(p, ex.embedding, planCache);
  const { inputDim: d, hiddenDim: hd, embedDim: e, numPlans: m } = p;
  const tau = p.temperature;
  const isPos = new Uint8Array(m);
  for (const j of ex.positives) isPos[j] = 1;
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
  const loss = Math.log(sumAll) - sumPosZ / numPos;
  if (!grads) return loss;
  // d loss / d s_j = (softmax_j - [j positive] / numPos) / tau
  const du = new Float64Array(e);
  for (let j = 0; j < m; j++) {
    const g = ((ez[j]! / sumAll - (isPos[j] ? 1 / numPos : 0)) / tau) * scale;
    if (g === 0) continue;
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
  return loss;
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
  const usable = examples.filter((ex) => ex.positives.length > 0 && ex.positives.length < numPlans);
  if (usable.length === 0) throw new Error('no training example has both positive and negative plans');
  const inputDim = usable[0]!.embedding.length;
  const shape: SelectorShape = { inputDim, hiddenDim: opts.hiddenDim ?? 64, embedDim: opts.embedDim ?? 32, numPlans };
  const p = initSelector(shape, opts.seed, opts.temperature ?? 0.1);
  const st = standardisation(usable.map((ex) => ex.embedding), inputDim);
  p.inputMean = st.mean;
  p.inputStd = st.std;
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
      for (const i of batch) total += exampleLoss(p, usable[i]!, g, 1 / batch.length, cache);
      step++;
      const c1 = 1 - 0.9 ** step;
      const c2 = 1 - 0.999 ** step;
      for (const key of KEYS) {
        const w = p[key];
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
