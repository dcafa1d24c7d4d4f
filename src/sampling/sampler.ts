/**
 * Token sampling from one row's logits: greedy (temperature 0), temperature, top-k and top-p,
 * driven by a seeded Rng so a seed reproduces the same tokens. The returned logprob is the token's
 * log-probability under the model's unmodified distribution (log-softmax of the raw logits), as
 * OpenAI-style logprobs report it.
 *
 * Large vocabularies are handled with typed scratch buffers and partial ranking: tokens are first
 * put in coarse bins by logit, and only the best bins that hold the k tokens (top-k, then a
 * quickselect) or the probability mass (top-p) get sort keys and are sorted. The result is bit-for-bit what sorting the whole vocabulary gives
 * (see nucleus()), and every non-greedy token draws exactly one random number.
 */
import { Rng } from '../util/rng.ts';
import { NBINS, selectSmallest, TokenOrder } from './token-ranking.ts';

/** How a candidate picks its tokens (one type for the engine, the CLI and the tools). */
export interface SamplingParams {
  /** 0 = greedy. */
  temperature: number;
  /** 1 = off. */
  topP: number;
  /** 0 = off. */
  topK: number;
  /** min-p: keep tokens at least this share of the most likely token's probability (0 or absent = off; logit-processors.ts). */
  minP?: number;
  /** OpenAI penalties over the tokens generated so far (0 or absent = off). */
  presencePenalty?: number;
  frequencyPenalty?: number;
  /**
   * vLLM's (and Hugging Face's) repetition penalty over the prompt's and the generated tokens (1 or
   * absent = off): a seen token's logit is divided by it when positive, multiplied by it otherwise.
   */
  repetitionPenalty?: number;
  /** The prompt's token ids the repetition penalty covers beside the generated ones (set with it). */
  repetitionPrompt?: readonly number[];
  /** vLLM's allowed_token_ids: only these tokens are drawn (sorted, distinct; absent = all). */
  allowedTokenIds?: readonly number[];
  /** vLLM's bad_words as token sequences: a sequence's last token is not drawn where the tokens before it were just generated. */
  badWords?: readonly (readonly number[])[];
  /** OpenAI's logit_bias: [token, bias] pairs added to the logits before a token is drawn, in token order. */
  logitBias?: readonly (readonly [number, number])[];
  /**
   * Guided decoding (sampling/guided/): every token keeps the text generated so far a prefix of a
   * full match of `regex`; end of sequence only once it fully matches. Runs in the model worker.
   */
  guide?: { regex: string };
}

export interface Sampled {
  token: number;
  logprob: number;
}

/** The largest repetition penalty taken (vLLM sets none; past a few it only bans what the text already holds). */
export const MAX_REPETITION_PENALTY = 10;

/** Checks parameters; throws naming the field. */
export function checkSampleParams(p: SamplingParams): void {
  if (!(p.temperature >= 0) || !Number.isFinite(p.temperature)) throw new Error(`temperature must be >= 0 (got ${p.temperature})`);
  if (!(p.topP > 0 && p.topP <= 1)) throw new Error(`top_p must be in (0, 1] (got ${p.topP})`);
  if (!Number.isInteger(p.topK) || p.topK < 0) throw new Error(`top_k must be a non-negative integer (got ${p.topK})`);
  if (p.minP !== undefined && !(p.minP >= 0 && p.minP <= 1)) throw new Error(`min_p must be in [0, 1] (got ${p.minP})`);
  for (const [name, v] of [['presence_penalty', p.presencePenalty], ['frequency_penalty', p.frequencyPenalty]] as const) {
    if (v !== undefined && !(v >= -2 && v <= 2)) throw new Error(`${name} must be in [-2, 2] (got ${v})`);
  }
  if (p.repetitionPenalty !== undefined && !(p.repetitionPenalty > 0 && p.repetitionPenalty <= MAX_REPETITION_PENALTY)) {
    throw new Error(`repetition_penalty must be in (0, ${MAX_REPETITION_PENALTY}] (got ${p.repetitionPenalty})`);
  }
  const tokenId = (t: number) => Number.isInteger(t) && t >= 0;
  if (p.allowedTokenIds !== undefined && (p.allowedTokenIds.length === 0 || !p.allowedTokenIds.every(tokenId))) throw new Error('allowed_token_ids must be a non-empty list of token ids');
  if (!(p.badWords ?? []).every((w) => w.length > 0 && w.every(tokenId))) throw new Error('bad_words must be non-empty token sequences');
  for (const [t, b] of p.logitBias ?? []) {
    if (!Number.isInteger(t) || t < 0 || !(b >= -100 && b <= 100)) throw new Error(`logit_bias must map token ids to biases in [-100, 100] (got ${t}: ${b})`);
  }
}

/** Index of the largest logit (lowest index on ties). */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** Reused scratch: weights by vocabulary index, and the order keys of the ranking. */
let weights = new Float64Array(0);
const order = new TokenOrder();
const hist = new Float64Array(NBINS);
const counts = new Uint32Array(NBINS);

function scratch(V: number): Float64Array {
  if (weights.length < V) weights = new Float64Array(V);
  return weights;
}

function maxOf(logits: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  return max;
}

/** sum(exp(logits - max)) in index order (the log-softmax normaliser). */
function expSum(logits: Float32Array, max: number): number {
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return sum;
}

/**
 * Fills w[i] = exp((logit_i - max) / T) for the whole vocabulary; returns their sum in index order
 * and the log-softmax normaliser sum(exp(logit_i - max)), sharing the exp when T = 1. Without
 * `needNorm` (the caller has the row's log-sum-exp from the graph) the normaliser is not computed
 * and `norm` is 0: one exp per token instead of two.
 */
function weighAll(logits: Float32Array, max: number, T: number, w: Float64Array, needNorm: boolean): { total: number; norm: number } {
  let total = 0;
  let norm = 0;
  if (T === 1) {
    for (let i = 0; i < logits.length; i++) {
      const e = Math.exp(logits[i] - max);
      w[i] = e;
      total += e;
    }
    return { total, norm: total };
  }
  for (let i = 0; i < logits.length; i++) {
    const d = logits[i] - max;
    if (needNorm) norm += Math.exp(d);
    const e = Math.exp(d / T);
    w[i] = e;
    total += e;
  }
  return { total, norm };
}

/** Draws from the first `n` ranked tokens with weights w (by index) whose prefix sum is `total`. */
function drawRanked(n: number, w: Float64Array, total: number, rng: Rng): number {
  let r = rng.next() * total;
  for (let j = 0; j < n; j++) {
    const t = order.token(j);
    r -= w[t];
    if (r < 0) return t;
  }
  return order.token(n - 1);
}

/**
 * Like weighAll (`needNorm` likewise), also putting each token in a coarse bin of its log-weight (4 bins per unit,
 * 0 = best) and summing the weights per bin into `hist`, so the nucleus can be bounded by bins.
 */
function weighBinned(logits: Float32Array, max: number, T: number, w: Float64Array, bins: Uint8Array, hist: Float64Array, needNorm: boolean): { total: number; norm: number } {
  hist.fill(0);
  let total = 0;
  let norm = 0;
  const separateNorm = T !== 1 && needNorm;
  for (let i = 0; i < logits.length; i++) {
    const d = logits[i] - max;
    if (separateNorm) norm += Math.exp(d);
    const x = d / T;
    const e = Math.exp(x);
    w[i] = e;
    total += e;
    const q = -4 * x;
    const b = q < NBINS - 1 ? q : NBINS - 1; // NaN lands in the last bin
    bins[i] = b;
    hist[bins[i]] += e;
  }
  return { total, norm: T === 1 ? total : norm };
}

/**
 * Top-p over the whole vocabulary: the smallest ranked prefix whose mass reaches p * total.
 * Only the tokens of the best bins whose mass reaches the target get keys and are sorted.
 * `total` was summed in index order; sorting everything would have summed it in rank order, which
 * can differ in the last bits. When the cut is too close to call under that rounding, the whole
 * vocabulary is ranked and summed in rank order, so the cut is always the one a full sort makes.
 * Returns the nucleus size and its mass (the prefix sum, in rank order).
 */
function nucleus(logits: Float32Array, w: Float64Array, total: number, hist: Float64Array, p: number): { keep: number; mass: number } {
  const V = logits.length;
  const slack = V * 2 ** -50;
  const target = p * total;
  let cum = 0;
  let cut = NBINS;
  for (let b = 0; b < NBINS; b++) {
    cum += hist[b];
    if (cum >= target * (1 + 4 * slack)) {
      cut = b;
      break;
    }
  }
  const m = order.fillUpTo(logits, cut);
  order.keys.subarray(0, m).sort();
  let acc = 0;
  for (let j = 0; j < m; j++) {
    const prev = acc;
    acc += w[order.token(j)];
    if (acc >= target) {
      const safe = acc >= target * (1 + slack) && prev < target * (1 - slack);
      return safe ? { keep: j + 1, mass: acc } : exactNucleus(logits, w, p);
    }
  }
  return exactNucleus(logits, w, p);
}

/** The full-sort path: rank everything, total in rank order, first prefix reaching p * total. */
function exactNucleus(logits: Float32Array, w: Float64Array, p: number): { keep: number; mass: number } {
  const V = logits.length;
  order.fill(logits);
  order.keys.subarray(0, V).sort();
  let total = 0;
  for (let j = 0; j < V; j++) total += w[order.token(j)];
  let acc = 0;
  for (let j = 0; j < V; j++) {
    acc += w[order.token(j)];
    if (acc >= p * total) return { keep: j + 1, mass: acc };
  }
  return { keep: V, mass: acc };
}

/** Ranks the k best tokens into keys[0, k): bins by logit bound the candidates, quickselect, sort. */
function rankTopK(logits: Float32Array, max: number, k: number): void {
  const V = logits.length;
  order.reserve(V);
  const bins = order.bins;
  counts.fill(0);
  for (let i = 0; i < V; i++) {
    const q = (max - logits[i]) * 4;
    bins[i] = q < NBINS - 1 ? q : NBINS - 1;
    counts[bins[i]]++;
  }
  let cum = 0;
  let cut = NBINS;
  for (let b = 0; b < NBINS; b++) {
    cum += counts[b];
    if (cum >= k) {
      cut = b;
      break;
    }
  }
  const m = order.fillUpTo(logits, cut);
  selectSmallest(order.keys, 0, m, k);
  order.keys.subarray(0, k).sort();
}

/**
 * Top-k, then top-p within it: ranks the k best tokens (order), puts their tempered weights in w
 * (relative to the best), and returns how many of them are kept and their mass, in rank order.
 */
function keepTopK(logits: Float32Array, max: number, k: number, T: number, topP: number, w: Float64Array): { keep: number; mass: number } {
  rankTopK(logits, max, k);
  const top = logits[order.token(0)];
  let total = 0;
  for (let j = 0; j < k; j++) {
    const t = order.token(j);
    const e = Math.exp((logits[t] - top) / T);
    w[t] = e;
    total += e;
  }
  if (topP < 1) {
    let acc = 0;
    for (let j = 0; j < k; j++) {
      acc += w[order.token(j)];
      if (acc >= topP * total) return { keep: j + 1, mass: acc };
    }
  }
  return { keep: k, mass: total };
}

let lastLogprob = 0;

/**
 * Samples one token; its logprob is left in lastLogprob (no per-token allocation). `lse`, when the
 * caller has it (the model graph computes log-sum-exp of each logits row), replaces the pass over
 * the vocabulary that the logprob's normaliser would otherwise cost; the token does not depend on it.
 */
function sampleToken(logits: Float32Array, p: SamplingParams, rng: Rng, lse?: number): number {
  const V = logits.length;
  if (p.temperature === 0) {
    const token = argmax(logits);
    if (lse !== undefined) {
      lastLogprob = logits[token] - lse;
      return token;
    }
    const max = maxOf(logits);
    lastLogprob = logits[token] - max - Math.log(expSum(logits, max));
    return token;
  }
  const T = p.temperature;
  const k = p.topK > 0 && p.topK < V ? p.topK : V;
  const w = scratch(V);
  const max = maxOf(logits);
  let token: number;
  let norm: number;
  if (k === V && p.topP >= 1) {
    // Plain temperature: weights, total and draw in index order.
    const s = weighAll(logits, max, T, w, lse === undefined);
    norm = s.norm;
    let r = rng.next() * s.total;
    token = -1;
    for (let i = 0; i < V; i++) {
      r -= w[i];
      if (r < 0) {
        token = i;
        break;
      }
    }
    // Rounding left r at 0 or above: the last token with weight (never one cut to -Infinity by min-p).
    if (token < 0) for (token = V - 1; token > 0 && !(w[token] > 0); token--);
  } else if (k < V) {
    // Top-k (then top-p within it): rank only the k best; weights and sums in rank order.
    const { keep, mass } = keepTopK(logits, max, k, T, p.topP, w);
    token = drawRanked(keep, w, mass, rng);
    norm = lse === undefined ? expSum(logits, max) : 0;
  } else {
    // Top-p over the whole vocabulary.
    order.reserve(V);
    const s = weighBinned(logits, max, T, w, order.bins, hist, lse === undefined);
    norm = s.norm;
    const { keep, mass } = nucleus(logits, w, s.total, hist, p.topP);
    token = drawRanked(keep, w, mass, rng);
  }
  lastLogprob = lse === undefined ? logits[token] - max - Math.log(norm) : logits[token] - lse;
  return token;
}

/**
 * The distribution sampleToken draws from at temperature > 0: the tempered weights cut as it cuts
 * them (top-k, then top-p within it; or top-p over the whole vocabulary), by vocabulary index,
 * zero outside the kept tokens, summing to 1. The kept set is the one sampleToken's ranking keeps,
 * bit for bit (the same code), so speculative sampling under it draws as plain sampling does.
 */
export function samplingDistribution(logits: Float32Array, p: Pick<SamplingParams, 'temperature' | 'topP' | 'topK'>): Float64Array {
  const V = logits.length;
  const T = p.temperature;
  const k = p.topK > 0 && p.topK < V ? p.topK : V;
  const out = new Float64Array(V);
  const max = maxOf(logits);
  if (k === V && p.topP >= 1) {
    const { total } = weighAll(logits, max, T, out, false);
    for (let i = 0; i < V; i++) out[i]! /= total;
    return out;
  }
  const w = scratch(V);
  let cut: { keep: number; mass: number };
  if (k < V) cut = keepTopK(logits, max, k, T, p.topP, w);
  else {
    order.reserve(V);
    cut = nucleus(logits, w, weighBinned(logits, max, T, w, order.bins, hist, false).total, hist, p.topP);
  }
  for (let j = 0; j < cut.keep; j++) {
    const t = order.token(j);
    out[t] = w[t] / cut.mass;
  }
  return out;
}

/** Samples one token. */
export function sample(logits: Float32Array, p: SamplingParams, rng: Rng): Sampled {
  const token = sampleToken(logits, p, rng);
  return { token, logprob: lastLogprob };
}

/** A seeded sampler closure returning token ids: same params + seed, same tokens. */
export function createSampler(params: SamplingParams, seed: number): (logits: Float32Array) => number {
  checkSampleParams(params);
  const rng = new Rng(seed);
  return (logits) => sampleToken(logits, params, rng);
}

/** A seeded sampler closure returning each token with its logprob (from `lse`, the row's log-sum-exp, when given): what a candidate row uses. */
export function createDetailedSampler(params: SamplingParams, seed: number): (logits: Float32Array, lse?: number) => Sampled {
  checkSampleParams(params);
  const rng = new Rng(seed);
  return (logits, lse) => {
    const token = sampleToken(logits, params, rng, lse);
    return { token, logprob: lastLogprob };
  };
}
