/**
 * A sampler given the row's log-sum-exp (as the model graph computes it) picks exactly the tokens
 * it picks without it, in every mode, and reports the same logprob up to that value's rounding.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { logSumExp } from '../src/sampling/logprobs.ts';
import { Rng } from '../src/util/rng.ts';
import { createDetailedSampler, type SamplingParams } from '../src/sampling/sampler.ts';

const MODES: SamplingParams[] = [
  { temperature: 0, topP: 1, topK: 0 },
  { temperature: 1, topP: 1, topK: 0 },
  { temperature: 0.7, topP: 1, topK: 0 },
  { temperature: 1, topP: 1, topK: 40 },
  { temperature: 0.8, topP: 0.9, topK: 0 },
  { temperature: 1.3, topP: 0.7, topK: 100 },
];

describe('sampling with a given log-sum-exp', () => {
  for (const p of MODES) {
    it(`T ${p.temperature}, top-p ${p.topP}, top-k ${p.topK}: same tokens, logprobs within 1e-5`, () => {
      const rng = new Rng(3);
      const plain = createDetailedSampler(p, 42);
      const withLse = createDetailedSampler(p, 42);
      for (let i = 0; i < 50; i++) {
        const logits = Float32Array.from({ length: 5000 }, () => rng.normal() * 3);
        const a = plain(logits);
        const b = withLse(logits, Math.fround(logSumExp(logits)));
        assert.equal(b.token, a.token);
        assert.ok(Math.abs(a.logprob - b.logprob) <= 1e-5, `${a.logprob} vs ${b.logprob}`);
      }
    });
  }
});
