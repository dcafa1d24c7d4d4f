/** Seeded RNG and the sampler: greedy, temperature, top-k, top-p, reproducibility, logprobs. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/util/rng.ts';
import { argmax, checkSampleParams, createSampler, sample } from '../src/sampling/sampler.ts';

const LOGITS = Float32Array.from([1, 3, 2.5, -1, 0, 2.9]);

describe('rng', () => {
  it('same seed, same stream; different seeds differ; values in [0,1)', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xa = Array.from({ length: 100 }, () => a.next());
    assert.deepEqual(xa, Array.from({ length: 100 }, () => b.next()));
    assert.notDeepEqual(xa, Array.from({ length: 100 }, () => c.next()));
    assert.ok(xa.every((x) => x >= 0 && x < 1));
    const mean = xa.reduce((s, x) => s + x, 0) / xa.length;
    assert.ok(mean > 0.35 && mean < 0.65);
  });
});

describe('sampler', () => {
  it('greedy picks the argmax with its log-softmax logprob', () => {
    const s = sample(LOGITS, { temperature: 0, topP: 1, topK: 0 }, new Rng(1));
    assert.equal(s.token, 1);
    const lse = Math.log([...LOGITS].reduce((a, x) => a + Math.exp(x), 0));
    assert.ok(Math.abs(s.logprob - (3 - lse)) < 1e-9);
    assert.equal(argmax(LOGITS), 1);
  });

  it('seeded sampling is reproducible and varies with the seed', () => {
    const p = { temperature: 1.5, topP: 1, topK: 0 };
    const run = (seed: number) => {
      const f = createSampler(p, seed);
      return Array.from({ length: 50 }, () => f(LOGITS));
    };
    assert.deepEqual(run(7), run(7));
    assert.notDeepEqual(run(7), run(8));
    assert.ok(new Set(run(7)).size > 2, 'temperature sampling explores several tokens');
  });

  it('top-k keeps only the k best tokens', () => {
    const f = createSampler({ temperature: 5, topP: 1, topK: 2 }, 3);
    const seen = new Set(Array.from({ length: 200 }, () => f(LOGITS)));
    assert.deepEqual([...seen].sort(), [1, 5]);
  });

  it('top-p keeps the smallest nucleus reaching p', () => {
    const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
    const f = createSampler({ temperature: 1, topP: 0.75, topK: 0 }, 5);
    const seen = new Set(Array.from({ length: 300 }, () => f(logits)));
    assert.deepEqual([...seen].sort(), [0, 1]);
    const g = createSampler({ temperature: 1, topP: 0.1, topK: 0 }, 5);
    assert.ok(Array.from({ length: 20 }, () => g(logits)).every((t) => t === 0));
  });

  it('frequencies follow the softmax', () => {
    const logits = Float32Array.from([0, Math.log(3)]);
    const f = createSampler({ temperature: 1, topP: 1, topK: 0 }, 11);
    let ones = 0;
    for (let i = 0; i < 4000; i++) ones += f(logits);
    assert.ok(Math.abs(ones / 4000 - 0.75) < 0.03, `got ${ones / 4000}`);
  });

  it('rejects bad parameters naming them', () => {
    assert.throws(() => checkSampleParams({ temperature: -1, topP: 1, topK: 0 }), /temperature/);
    assert.throws(() => checkSampleParams({ temperature: 1, topP: 0, topK: 0 }), /top_p/);
    assert.throws(() => checkSampleParams({ temperature: 1, topP: 1, topK: 1.5 }), /top_k/);
  });
});
