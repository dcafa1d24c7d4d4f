/**
 * `npm run bench:sampler`: milliseconds per sampled token for each sampling mode at vocabulary
 * 384 (the default model) and 49152 (SmolLM2), on normally distributed logits (scale 3) and on a
 * peaked, LM-like row (one dominant token, a few strong ones); without and with the row's
 * log-sum-exp given (the engine's path: the model graph computes it, so the logprob's normaliser
 * costs no pass over the vocabulary).
 */
import { Rng } from '../src/util/rng.ts';
import { logSumExp } from '../src/sampling/logprobs.ts';
import { createDetailedSampler, sample, type SamplingParams } from '../src/sampling/sampler.ts';

const MODES: [string, SamplingParams][] = [
  ['greedy', { temperature: 0, topP: 1, topK: 0 }],
  ['temperature 0.8', { temperature: 0.8, topP: 1, topK: 0 }],
  ['top_k 50', { temperature: 0.8, topP: 1, topK: 50 }],
  ['top_p 0.95', { temperature: 0.8, topP: 0.95, topK: 0 }],
  ['top_k 50 + top_p 0.9', { temperature: 0.8, topP: 0.9, topK: 50 }],
];

function row(V: number, kind: 'normal' | 'peaked', rng: Rng): Float32Array {
  return Float32Array.from({ length: V }, (_, i) => (kind === 'peaked' && i % 997 === 5 ? 12 + (i % 5) : rng.normal() * 3));
}

console.log('| vocab | logits | mode | ms/token | ms/token, lse given |');
console.log('|---|---|---|---|---|');
for (const V of [384, 49152]) {
  for (const kind of ['normal', 'peaked'] as const) {
    const rows = Array.from({ length: 8 }, (_, i) => row(V, kind, new Rng(V + i)));
    const lses = rows.map((r) => Math.fround(logSumExp(r)));
    for (const [name, p] of MODES) {
      const rng = new Rng(1);
      const n = Math.max(50, Math.round(2e6 / V));
      for (let i = 0; i < n / 5; i++) sample(rows[i % 8], p, rng);
      const t0 = performance.now();
      for (let i = 0; i < n; i++) sample(rows[i % 8], p, rng);
      const plain = (performance.now() - t0) / n;
      const withLse = createDetailedSampler(p, 1);
      for (let i = 0; i < n / 5; i++) withLse(rows[i % 8], lses[i % 8]);
      const t1 = performance.now();
      for (let i = 0; i < n; i++) withLse(rows[i % 8], lses[i % 8]);
      console.log(`| ${V} | ${kind} | ${name} | ${plain.toFixed(3)} | ${((performance.now() - t1) / n).toFixed(3)} |`);
    }
  }
}
