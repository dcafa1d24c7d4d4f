/**
 * The selector: a small MLP maps a question's input (the mean-pooled hidden state from the model's
 * own prefill, optionally followed by the prompt's text features) into the plan space; each catalog
 * plan has a learned embedding; the score of a plan is the cosine similarity, plus the plan's learned
 * prior when the selector has one. An ensemble averages
 * the scores of several such members. Plain Float32Array math, so training needs no framework and
 * the ONNX export can be checked against it number for number.
 */
import { Rng } from '../../src/util/rng.ts';

/** Added under the square root of every norm (the ONNX graph uses the same constant). */
export const NORM_EPS = 1e-8;

export interface SelectorShape {
  /** Input width: the model's hidden size plus `featureDim`. */
  inputDim: number;
  /** Trailing input values that are text features (0: the embedding alone). */
  featureDim?: number;
  hiddenDim: number;
  /** Width of the shared question/plan space. */
  embedDim: number;
  /** Number of catalog plans. */
  numPlans: number;
}

/** All selector parameters; matrices are row-major. */
export interface SelectorParams extends SelectorShape {
  /** Input standardisation (fixed from the training data, not trained). */
  inputMean: Float32Array;
  inputStd: Float32Array;
  w1: Float32Array; // [hiddenDim, inputDim]
  b1: Float32Array; // [hiddenDim]
  w2: Float32Array; // [embedDim, hiddenDim]
  b2: Float32Array; // [embedDim]
  plans: Float32Array; // [numPlans, embedDim]
  /**
   * A learned prior per plan, added to its cosine (absent: none). It carries what is true of a plan
   * on every question (how often it is right at all), so the cosine only has to carry what depends on
   * the question.
   */
  bias?: Float32Array; // [numPlans]
  /** Softmax temperature of the InfoNCE loss (the scores themselves are not scaled by it). */
  temperature: number;
}

/** Intermediate values of one forward pass, kept for the backward pass. */
export interface SelectorTrace {
  xn: Float32Array;
  h: Float32Array;
  q: Float32Array;
  qNorm: number;
  u: Float32Array;
  planNorms: Float32Array;
  v: Float32Array; // normalised plan embeddings [numPlans, embedDim]
  scores: Float32Array;
}

/** New parameters with seeded Glorot-style initialisation and identity standardisation. */
export function initSelector(shape: SelectorShape, seed: number, temperature = 0.1, planBias = false): SelectorParams {
  const rng = new Rng(seed);
  const mat = (rows: number, cols: number): Float32Array => {
    const m = new Float32Array(rows * cols);
    const s = Math.sqrt(2 / (rows + cols));
    for (let i = 0; i < m.length; i++) m[i] = rng.normal() * s;
    return m;
  };
  const plans = new Float32Array(shape.numPlans * shape.embedDim);
  for (let i = 0; i < plans.length; i++) plans[i] = rng.normal();
  return {
    ...shape,
    inputMean: new Float32Array(shape.inputDim),
    inputStd: new Float32Array(shape.inputDim).fill(1),
    w1: mat(shape.hiddenDim, shape.inputDim),
    b1: new Float32Array(shape.hiddenDim),
    w2: mat(shape.embedDim, shape.hiddenDim),
    b2: new Float32Array(shape.embedDim),
    plans,
    ...(planBias ? { bias: new Float32Array(shape.numPlans) } : {}),
    temperature,
  };
}

/** Normalised plan embeddings and their norms (shared by every question of a batch). */
export function normalisePlans(p: SelectorParams): { v: Float32Array; norms: Float32Array } {
  const { numPlans: m, embedDim: e } = p;
  const v = new Float32Array(m * e);
  const norms = new Float32Array(m);
  for (let j = 0; j < m; j++) {
    let ss = 0;
    for (let k = 0; k < e; k++) ss += p.plans[j * e + k]! ** 2;
    const n = Math.sqrt(ss + NORM_EPS);
    norms[j] = n;
    for (let k = 0; k < e; k++) v[j * e + k] = p.plans[j * e + k]! / n;
  }
  return { v, norms };
}

/** Forward pass for one question embedding; `planCache` avoids re-normalising plans per question. */
export function forward(p: SelectorParams, x: Float32Array, planCache = normalisePlans(p)): SelectorTrace {
  if (x.length !== p.inputDim) throw new Error(`embedding has ${x.length} values, selector expects ${p.inputDim}`);
  const { inputDim: d, hiddenDim: hd, embedDim: e, numPlans: m } = p;
  const xn = new Float32Array(d);
  for (let i = 0; i < d; i++) xn[i] = (x[i]! - p.inputMean[i]!) / p.inputStd[i]!;
  const h = new Float32Array(hd);
  for (let r = 0; r < hd; r++) {
    let a = p.b1[r]!;
    for (let i = 0; i < d; i++) a += p.w1[r * d + i]! * xn[i]!;
    h[r] = Math.tanh(a);
  }
  const q = new Float32Array(e);
  let ss = 0;
  for (let k = 0; k < e; k++) {
    let a = p.b2[k]!;
    for (let r = 0; r < hd; r++) a += p.w2[k * hd + r]! * h[r]!;
    q[k] = a;
    ss += a * a;
  }
  const qNorm = Math.sqrt(ss + NORM_EPS);
  const u = new Float32Array(e);
  for (let k = 0; k < e; k++) u[k] = q[k]! / qNorm;
  const scores = new Float32Array(m);
  for (let j = 0; j < m; j++) {
    let s = 0;
    for (let k = 0; k < e; k++) s += u[k]! * planCache.v[j * e + k]!;
    scores[j] = s + (p.bias?.[j] ?? 0);
  }
  return { xn, h, q, qNorm, u, planNorms: planCache.norms, v: planCache.v, scores };
}

/** Scores (cosine, plus the prior when there is one) of every catalog plan for one question embedding. */
export function scorePlans(p: SelectorParams, x: Float32Array): Float32Array {
  return forward(p, x).scores;
}


/** Mean scores of an ensemble's members (one member: its own scores). */
export function ensembleScores(members: readonly SelectorParams[], x: Float32Array): Float32Array {
  if (members.length === 1) return forward(members[0]!, x).scores;
  // Summed in float32, then scaled by 1/K, as the exported graph does.
  const out = new Float32Array(members[0]!.numPlans);
  for (const p of members) {
    const s = forward(p, x).scores;
    for (let j = 0; j < out.length; j++) out[j] += s[j]!;
  }
  const inv = Math.fround(1 / members.length);
  for (let j = 0; j < out.length; j++) out[j] *= inv;
  return out;
}

/** The selector's input: the embedding, then the text features when the selector takes them. */
export function selectorInput(embedding: Float32Array, features: Float32Array | null): Float32Array {
  if (!features || features.length === 0) return embedding;
  const x = new Float32Array(embedding.length + features.length);
  x.set(embedding);
  x.set(features, embedding.length);
  return x;
}

/** Deep copy of the parameters. */
export function cloneSelector(p: SelectorParams): SelectorParams {
  return {
    ...p,
    inputMean: p.inputMean.slice(),
    inputStd: p.inputStd.slice(),
    w1: p.w1.slice(),
    b1: p.b1.slice(),
    w2: p.w2.slice(),
    b2: p.b2.slice(),
    plans: p.plans.slice(),
    ...(p.bias ? { bias: p.bias.slice() } : {}),
  };
}
