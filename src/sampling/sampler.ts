/**
 * Token sampling from one row's logits: greedy (temperature 0), temperature, top-k and top-p,
 * driven by a seeded Rng so a seed reproduces the same tokens. The returned logprob is the token's
 * log-probability under the model's unmodified distribution (log-softmax of the raw logits), as
 * OpenAI-style logprobs report it.
 */
import { Rng } from './rng.ts';

export interface SampleParams {
  /** 0 = greedy. */
  temperature: number;
  /** 1 = off. */
  topP: number;
  /** 0 = off. */
  topK: number;
}

export interface Sampled {
  token: number;
  logprob: number;
}

/** Checks parameters; throws naming the field. */
export function checkSampleParams(p: SampleParams): void {
  if (!(p.temperature >= 0) || !Number.isFinite(p.temperature)) throw new Error(`temperature must be >= 0 (got ${p.temperature})`);
  if (!(p.topP > 0 && p.topP <= 1)) throw new Error(`top_p must be in (0, 1] (got ${p.topP})`);
  if (!Number.isInteger(p.topK) || p.topK < 0) throw new Error(`top_k must be a non-negative integer (got ${p.topK})`);
}

function logSoftmaxAt(logits: Float32Array, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return logits[token] - max - Math.log(sum);
}

/** Index of the largest logit (lowest index on ties). */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** Samples one token. */
export function sample(logits: Float32Array, p: SampleParams, rng: Rng): Sampled {
  if (p.temperature === 0) {
    const token = argmax(logits);
    return { token, logprob: logSoftmaxAt(logits, token) };
  }
  let idx: number[] = Array.from({ length: logits.length }, (_, i) => i);
  const needSort = (p.topK > 0 && p.topK < logits.length) || p.topP < 1;
  if (needSort) {
    idx.sort((a, b) => logits[b] - logits[a] || a - b);
    if (p.topK > 0) idx = idx.slice(0, p.topK);
  }
  let max = -Infinity;
  for (const i of idx) if (logits[i] > max) max = logits[i];
  const w = idx.map((i) => Math.exp((logits[i] - max) / p.temperature));
  let total = w.reduce((a, b) => a + b, 0);
  if (p.topP < 1) {
    let acc = 0;
    let keep = idx.length;
    for (let j = 0; j < idx.length; j++) {
      acc += w[j];
      if (acc >= p.topP * total) {
        keep = j + 1;
        break;
      }
    }
    idx = idx.slice(0, keep);
    w.length = keep;
    total = w.reduce((a, b) => a + b, 0);
  }
  let r = rng.next() * total;
  let token = idx[idx.length - 1];
  for (let j = 0; j < idx.length; j++) {
    r -= w[j];
    if (r < 0) {
      token = idx[j];
      break;
    }
  }
  return { token, logprob: logSoftmaxAt(logits, token) };
}

/** A seeded sampler closure (the engine's SamplerFactory shape): same params + seed, same tokens. */
export function createSampler(params: SampleParams, seed: number): (logits: Float32Array) => number {
  checkSampleParams(params);
  const rng = new Rng(seed);
  return (logits) => sample(logits, params, rng).token;
}

/** Like createSampler, returning the token's logprob too. */
export function createDetailedSampler(params: SampleParams, seed: number): (logits: Float32Array) => Sampled {
  checkSampleParams(params);
  const rng = new Rng(seed);
  return (logits) => sample(logits, params, rng);
}
