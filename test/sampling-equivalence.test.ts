/**
 * The typed-array sampler against the straightforward full-sort sampler it replaced (kept here as
 * the reference): same tokens, same logprobs, same number of random draws, for every mode, on
 * small and large vocabularies, ties, -Infinity logits and nucleus cuts that fall exactly on a
 * boundary (which take the full-sort fallback).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/util/rng.ts';
import { sample, type SamplingParams } from '../src/sampling/sampler.ts';

function logSoftmaxAt(logits: Float32Array, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return logits[token] - max - Math.log(sum);
}

/** The previous implementation, verbatim in behaviour: sorts the whole vocabulary. */
function referenceSample(logits: Float32Array, p: SamplingParams, rng: Rng): { token: number; logprob: number } {
  if (p.temperature === 0) {
    let token = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[token]) token = i;
    return { token, logprob: logSoftmaxAt(logits, token) };
  }
  let idx: number[] = Array.from({ length: logits.length }, (_, i) => i);
  if ((p.topK > 0 && p.topK < logits.length) || p.topP < 1) {
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

const MODES: SamplingParams[] = [
  { temperature: 0, topP: 1, topK: 0 },
  { temperature: 1, topP: 1, topK: 0 },
  { temperature: 0.7, topP: 1, topK: 0 },
  { temperature: 1.3, topP: 1, topK: 40 },
  { temperature: 1, topP: 1, topK: 1 },
  { temperature: 0.8, topP: 0.95, topK: 0 },
  { temperature: 1, topP: 0.5, topK: 0 },
  { temperature: 2, topP: 0.999, topK: 0 },
  { temperature: 0.9, topP: 0.9, topK: 50 },
  { temperature: 1, topP: 0.9, topK: 100000 },
  { temperature: 1, topP: 1, topK: 100000 },
];

function agree(name: string, logits: Float32Array, p: SamplingParams, seed: number, draws: number): void {
  const a = new Rng(seed);
  const b = new Rng(seed);
  for (let d = 0; d < draws; d++) {
    const want = referenceSample(logits, p, a);
    const got = sample(logits, p, b);
    assert.deepEqual(got, want, `${name} ${JSON.stringify(p)} seed ${seed} draw ${d}`);
  }
  assert.equal(b.nextU32(), a.nextU32(), `${name} ${JSON.stringify(p)}: same number of random draws`);
}

describe('sampler equivalence with the full-sort reference', () => {
  it('random vocabularies of 7 to 49152 tokens, every mode', () => {
    const rng = new Rng(99);
    for (const V of [7, 384, 5000, 49152]) {
      for (const scale of [0.5, 3, 12]) {
        const logits = Float32Array.from({ length: V }, () => rng.normal() * scale);
        for (const p of MODES) agree(`V=${V} scale=${scale}`, logits, p, V + scale, V > 5000 ? 3 : 10);
      }
    }
  });

  it('ties, -Infinity and a peaked distribution', () => {
    const rng = new Rng(7);
    const ties = Float32Array.from({ length: 3000 }, () => Math.round(rng.normal() * 2));
    const masked = Float32Array.from({ length: 1000 }, (_, i) => (i % 3 === 0 ? -Infinity : rng.normal()));
    const peaked = Float32Array.from({ length: 2000 }, (_, i) => (i === 1234 ? 30 : i % 17 === 0 ? 25 : rng.normal()));
    const zeros = Float32Array.from({ length: 500 }, (_, i) => (i % 2 ? 0 : -0));
    for (const [name, logits] of Object.entries({ ties, masked, peaked, zeros })) {
      for (const p of MODES) for (const seed of [1, 2, 3]) agree(name, logits, p, seed, 10);
    }
  });

  it('nucleus cuts exactly on a boundary', () => {
    const logits = Float32Array.from([Math.log(0.25), Math.log(0.5), Math.log(0.125), Math.log(0.125)]);
    for (const topP of [0.5, 0.75, 0.25, 0.875, 0.3, 1 - 1e-12]) {
      for (const temperature of [1, 0.5]) agree('boundary', logits, { temperature, topP, topK: 0 }, 11, 50);
    }
  });
});
