/**
 * Sampling inside the model worker: the same seed gives the same tokens as the main-thread sampler
 * over returned logits, for greedy, temperature, top-k and top-p, and the same logprobs up to the
 * float32 log-sum-exp the graph computes (|difference| <= 1e-5); pipelined
 * steps that feed the worker's own token (queued before the previous result arrived) give the same
 * sequence; forkSampled draws each child's first token like the main thread would; a stop token
 * drops the pipelined row; plans are sent once and may be fresh objects every step.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { loadRunner } from '../src/model/runner.ts';
import type { SamplerSpec, SamplingRunner, StepOutput } from '../src/model/runner-types.ts';
import { FULL_PLAN, type SkipPlan } from '../src/plans/plan.ts';
import { logSumExp, topLogprobs } from '../src/sampling/logprobs.ts';
import { createDetailedSampler } from '../src/sampling/sampler.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';

const PROMPT = [0, 17, 42, 99, 3, 250, 71];
const MASKED: SkipPlan = { skipAttention: [1], skipMlp: [], maskHeads: { 0: [2] } };
const SPECS: [string, SamplerSpec][] = [
  ['greedy', { temperature: 0, topP: 1, topK: 0, seed: 1, topLogprobs: 3 }],
  ['temperature 0.8', { temperature: 0.8, topP: 1, topK: 0, seed: 7 }],
  ['top-k 20', { temperature: 1, topP: 1, topK: 20, seed: 11, topLogprobs: 2 }],
  ['top-p 0.9', { temperature: 0.7, topP: 0.9, topK: 0, seed: 13 }],
  ['top-k 50 + top-p 0.8', { temperature: 1.2, topP: 0.8, topK: 50, seed: 17 }],
];

/** Tokens, logprobs and top alternatives sampled on the main thread from returned logits. */
async function mainThread(r: SamplingRunner, spec: SamplerSpec, plan: SkipPlan, n: number) {
  const draw = createDetailedSampler(spec, spec.seed);
  const seq = await r.createSeq();
  let out = await r.step([{ seq, tokens: PROMPT, plan, logits: 'last' }]);
  const got: { token: number; logprob: number; top: { token: number; logprob: number }[] }[] = [];
  for (let i = 0; i < n; i++) {
    const l = out.logits[0];
    const s = draw(l);
    got.push({ ...s, top: spec.topLogprobs ? topLogprobs(l, spec.topLogprobs, logSumExp(l)) : [] });
    out = await r.step([{ seq, tokens: [s.token], plan, logits: 'last' }]);
  }
  await r.freeSeq(seq);
  return got;
}

describe('sampling in the model worker', () => {
  const dir = makeCheckpoint({ layers: 3, vocab: 300, seed: 31 });
  let runner: SamplingRunner;
  before(async () => {
    runner = await loadRunner({ modelDir: dir, threads: 1, maxBatch: 8 });
  });
  after(async () => {
    await runner.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [name, spec] of SPECS) {
    it(`${name}: same tokens, logprobs and alternatives as the main-thread sampler`, async () => {
      const want = await mainThread(runner, spec, MASKED, 12);
      const seq = await runner.createSeq();
      let out = await runner.step([{ seq, tokens: PROMPT, plan: MASKED, logits: 'none', sample: spec }]);
      const got = [out.sampled![0]!];
      for (let i = 1; i < 12; i++) {
        out = await runner.step([{ seq, tokens: [got[i - 1].token], plan: MASKED, logits: 'none', sample: spec }]);
        got.push(out.sampled![0]!);
      }
      assert.deepEqual(got.map((g) => g.token), want.map((w) => w.token));
      assert.deepEqual(got.map((g) => g.top.map((t) => t.token)), want.map((w) => w.top.map((t) => t.token)));
      got.forEach((g, i) => {
        assert.ok(Math.abs(g.logprob - want[i].logprob) <= 1e-5, `logprob ${i}: ${g.logprob} vs ${want[i].logprob}`);
        g.top.forEach((t, j) => assert.ok(Math.abs(t.logprob - want[i].top[j].logprob) <= 1e-5));
      });
      assert.equal(out.logits[0].length, 0, "logits 'none' sends no logits");
      assert.equal(runner.seqLength(seq), PROMPT.length + 11);
      await runner.freeSeq(seq);
    });
  }

  /** The logit bias, penalties and min-p from their definitions, in float64 over the sequence's history (an independent reference for logit-processors.ts). */
  const reference = (l: Float32Array, spec: SamplerSpec, history: number[]): Float32Array => {
    const out = Float32Array.from(l);
    for (const [t, b] of spec.logitBias ?? []) out[t] = out[t]! + b;
    for (const t of new Set(history)) out[t] = out[t]! - (spec.frequencyPenalty ?? 0) * history.filter((x) => x === t).length - (spec.presencePenalty ?? 0);
    if ((spec.minP ?? 0) > 0 && spec.temperature > 0) {
      const w = Array.from(out, (x) => Math.exp(x / spec.temperature));
      const best = Math.max(...w);
      w.forEach((x, i) => {
        if (x < spec.minP! * best) out[i] = -Infinity;
      });
    }
    return out;
  };
  const PROCESSED: [string, SamplerSpec][] = [
    ['greedy, frequency 2 + presence 0.5', { temperature: 0, topP: 1, topK: 0, seed: 1, frequencyPenalty: 2, presencePenalty: 0.5 }],
    ['temperature 1, min-p 0.2 + frequency 1', { temperature: 1, topP: 1, topK: 0, seed: 5, minP: 0.2, frequencyPenalty: 1, topLogprobs: 2 }],
    ['top-p 0.9 T 0.8, min-p 0.05 + presence -1', { temperature: 0.8, topP: 0.9, topK: 0, seed: 9, minP: 0.05, presencePenalty: -1 }],
    ['top-k 20, min-p 0.5', { temperature: 1.5, topP: 1, topK: 20, seed: 3, minP: 0.5 }],
    ['greedy, logit bias (one token banned, one pushed)', { temperature: 0, topP: 1, topK: 0, seed: 2, logitBias: [[3, -100], [7, 30]] }],
    ['temperature 0.9, logit bias + frequency 1', { temperature: 0.9, topP: 1, topK: 0, seed: 4, logitBias: [[1, 2], [5, -3]], frequencyPenalty: 1, topLogprobs: 2 }],
  ];
  for (const [name, spec] of PROCESSED) {
    it(`${name}: tokens drawn from the processed logits, logprobs and alternatives of the model's own`, async () => {
      // The reference: the main-thread sampler over the reference-processed logits; logprobs of the raw ones.
      const draw = createDetailedSampler(spec, spec.seed);
      const ref = await runner.createSeq();
      let out = await runner.step([{ seq: ref, tokens: PROMPT, plan: MASKED, logits: 'last' }]);
      const want: { token: number; logprob: number; top: number[] }[] = [];
      for (let i = 0; i < 12; i++) {
        const l = out.logits[0]!;
        const token = draw(reference(l, spec, want.map((w) => w.token))).token;
        want.push({ token, logprob: l[token]! - logSumExp(l), top: spec.topLogprobs ? topLogprobs(l, spec.topLogprobs, logSumExp(l)).map((t) => t.token) : [] });
        out = await runner.step([{ seq: ref, tokens: [token], plan: MASKED, logits: 'last' }]);
      }
      await runner.freeSeq(ref);
      const seq = await runner.createSeq();
      const got = [];
      for (let i = 0; i < 12; i++) {
        const o = await runner.step([{ seq, tokens: i === 0 ? PROMPT : [], plan: MASKED, logits: 'none', sample: spec, ...(i > 0 ? { feedSampled: true } : {}) }]);
        got.push(o.sampled![0]!);
      }
      await runner.freeSeq(seq);
      assert.deepEqual(got.map((g) => g.token), want.map((w) => w.token));
      assert.deepEqual(got.map((g) => g.top.map((t) => t.token)), want.map((w) => w.top));
      got.forEach((g, i) => assert.ok(Math.abs(g.logprob - want[i]!.logprob) <= 1e-5, `logprob ${i}: ${g.logprob} vs ${want[i]!.logprob}`));
      if (spec.temperature === 0) {
        const plain = (await mainThread(runner, { temperature: 0, topP: 1, topK: 0, seed: 1 }, MASKED, 12)).map((w) => w.token);
        assert.notDeepEqual(got.map((g) => g.token), plain, 'the penalties or the bias change the greedy tokens');
        if (spec.frequencyPenalty) assert.ok(new Set(got.map((g) => g.token)).size > new Set(plain).size, 'and repeat less');
      }
    });
  }

  it('pipelined steps feeding the sampled token give the same sequence, batched with other rows', async () => {
    const spec = SPECS[3][1];
    const want = (await mainThread(runner, spec, FULL_PLAN, 10)).map((s) => s.token);
    const wantB = (await mainThread(runner, SPECS[2][1], MASKED, 10)).map((s) => s.token);
    const [a, b] = [await runner.createSeq(), await runner.createSeq()];
    const rowsFirst = [
      { seq: a, tokens: PROMPT, plan: FULL_PLAN, logits: 'none' as const, sample: spec },
      { seq: b, tokens: PROMPT, plan: MASKED, logits: 'none' as const, sample: SPECS[2][1] },
    ];
    // Queue every step at once: each feeds the token the worker drew at the step before.
    const pending: Promise<StepOutput>[] = [runner.step(rowsFirst)];
    for (let i = 1; i < 10; i++) {
      pending.push(
        runner.step([
          { seq: a, tokens: [], plan: FULL_PLAN, logits: 'none', sample: spec, feedSampled: true },
          { seq: b, tokens: [], plan: MASKED, logits: 'none', sample: SPECS[2][1], feedSampled: true },
        ]),
      );
    }
    const outs = await Promise.all(pending);
    assert.deepEqual(outs.map((o) => o.sampled![0]!.token), want);
    assert.deepEqual(outs.map((o) => o.sampled![1]!.token), wantB);
    assert.deepEqual(outs.slice(1).map((o) => o.fed), outs.slice(1).map(() => [1, 1]));
    assert.equal(runner.seqLength(a), PROMPT.length + 9);
    for (const s of [a, b]) await runner.freeSeq(s);
  });

  it('forkSampled draws each child like the main thread would from the prompt logits', async () => {
    const parent = await runner.createSeq();
    const out = await runner.step([{ seq: parent, tokens: PROMPT, plan: FULL_PLAN, logits: 'last' }]);
    const specs = [1, 2, 3, 4].map((i) => ({ temperature: 1, topP: 0.95, topK: 0, seed: 100 + i }));
    const want = specs.map((s) => createDetailedSampler(s, s.seed)(out.logits[0]).token);
    const { seqs, sampled } = await runner.forkSampled(parent, specs);
    assert.deepEqual(sampled.map((s) => s.token), want);
    assert.deepEqual(seqs.map((s) => runner.seqLength(s)), specs.map(() => PROMPT.length));
    // Each child continues its own stream: the next draw equals the main thread's second draw.
    const next = await runner.step(seqs.map((seq, i) => ({ seq, tokens: [], plan: FULL_PLAN, logits: 'last' as const, sample: specs[i], feedSampled: true })));
    for (let i = 0; i < specs.length; i++) {
      const draw = createDetailedSampler(specs[i], specs[i].seed);
      draw(out.logits[0]);
      assert.equal(next.sampled![i]!.token, draw(next.logits[i]).token);
    }
    for (const s of [parent, ...seqs]) await runner.freeSeq(s);
  });

  it('a pipelined row after a stop token is dropped and feeds nothing', async () => {
    const greedy: SamplerSpec = { temperature: 0, topP: 1, topK: 0, seed: 1 };
    const probe = await runner.createSeq();
    const first = await runner.step([{ seq: probe, tokens: PROMPT, plan: FULL_PLAN, logits: 'none', sample: greedy }]);
    await runner.freeSeq(probe);
    const stop: SamplerSpec = { ...greedy, stopTokenIds: [first.sampled![0]!.token] };
    const [a, b] = [await runner.createSeq(), await runner.createSeq()];
    await runner.step([
      { seq: a, tokens: PROMPT, plan: FULL_PLAN, logits: 'none', sample: stop },
      { seq: b, tokens: PROMPT, plan: FULL_PLAN, logits: 'none', sample: greedy },
    ]);
    const out = await runner.step([
      { seq: a, tokens: [], plan: FULL_PLAN, logits: 'none', sample: stop, feedSampled: true },
      { seq: b, tokens: [], plan: FULL_PLAN, logits: 'none', sample: greedy, feedSampled: true },
    ]);
    assert.deepEqual(out.fed, [0, 1]);
    assert.equal(out.sampled![0], null);
    assert.ok(out.sampled![1]);
    assert.deepEqual([runner.seqLength(a), runner.seqLength(b)], [PROMPT.length, PROMPT.length + 1]);
    for (const s of [a, b]) await runner.freeSeq(s);
  });

  it('fresh plan objects every step and a changed spec for a sequence', async () => {
    const seq = await runner.createSeq();
    for (let i = 0; i < 5; i++) {
      const out = await runner.step([{ seq, tokens: [i + 3], plan: { skipAttention: [1], skipMlp: [], maskHeads: { 0: [2] } }, logits: 'last' }]);
      assert.equal(out.logits[0].length, 300);
    }
    await runner.step([{ seq, tokens: [5], plan: MASKED, logits: 'none', sample: SPECS[1][1] }]);
    await assert.rejects(runner.step([{ seq, tokens: [5], plan: MASKED, logits: 'none', sample: { ...SPECS[1][1], seed: 99 } }]), /already samples with another spec/);
    const fresh = await runner.createSeq();
    await assert.rejects(runner.step([{ seq: fresh, tokens: [5], plan: MASKED, logits: 'none', sample: { ...SPECS[1][1], topP: 0 } }]), /top_p must be in/);
    assert.equal(runner.seqLength(fresh), 0);
    await runner.freeSeq(fresh);
    const len = runner.seqLength(seq);
    const again = await runner.step([{ seq, tokens: [5], plan: MASKED, logits: 'none', sample: SPECS[1][1] }]);
    assert.equal(runner.seqLength(seq), len + 1, 'rejected steps consumed nothing');
    assert.ok(again.sampled![0]);
    await assert.rejects(runner.step([{ seq: await runner.createSeq(), tokens: [], plan: FULL_PLAN, logits: 'none', feedSampled: true }]), /has no sampled token to feed/);
    await runner.freeSeq(seq);
  });

  it('reports a timeline for each step', async () => {
    const seq = await runner.createSeq();
    const out = await runner.step([{ seq, tokens: PROMPT, plan: FULL_PLAN, logits: 'none', sample: SPECS[0][1] }]);
    const t = out.timing!;
    for (const k of ['toWorkerMs', 'prepMs', 'runMs', 'afterMs', 'sampleMs', 'toMainMs'] as const) assert.ok(t[k] >= 0 && Number.isFinite(t[k]), `${k} = ${t[k]}`);
    assert.ok(t.runMs > 0);
    await runner.freeSeq(seq);
  });
});
