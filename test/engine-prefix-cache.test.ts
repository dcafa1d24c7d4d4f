/**
 * Prefix cache (src/engine/prefix-cache.ts): on the real runner (onnxruntime in its worker), a
 * prompt that starts like an earlier one under the same skip core copies that prefix's keys and
 * values: the logits after the copied prefix match the float64 reference; through the engine the
 * same seeded request gives the same tokens and logprobs with and without the cache and says how
 * many prompt tokens were cached; other cores, scored prompts and short prefixes do not reuse; the
 * least recently used prompts go past the budget, and every sequence is freed when the engine stops.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Engine } from '../src/engine/engine.ts';
import { PrefixCache, prefixCacheTokens } from '../src/engine/prefix-cache.ts';
import { RequestStats } from '../src/engine/request-stats.ts';
import type { GenerationRequest, GenerationResult } from '../src/engine/types.ts';
import { createMetrics } from '../src/metrics/metrics.ts';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { ReferenceModel } from '../src/model/reference.ts';
import { loadRunner } from '../src/model/runner.ts';
import type { SamplingRunner, SeqId } from '../src/model/runner-types.ts';
import { coreKey, FULL_PLAN, type SkipPlan } from '../src/plans/plan.ts';
import { createPolicyRegistry, type PolicyRegistry } from '../src/plans/policies/registry.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';
import { assertCloseToRef, maxAbsDiff } from './helpers/compare-logits.ts';

let dir: string;
let runner: SamplingRunner;
let policies: PolicyRegistry;
before(async () => {
  dir = makeCheckpoint({ layers: 4, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, maxPositions: 256, seed: 23 });
  runner = await loadRunner({ modelDir: dir, threads: 1, maxBatch: 8 });
  policies = await createPolicyRegistry({ info: runner.info, modelDir: dir, defaults: { k: 1, targetSpeedup: 1.25 } });
});
after(async () => {
  await runner?.close();
});

const core: SkipPlan = { skipAttention: [1], skipMlp: [2], maskHeads: {} };
const tokens = (n: number, from: number) => Array.from({ length: n }, (_, i) => 3 + ((from + i * 7) % 250));
const shared = tokens(30, 0);

/** The real runner, with the sequences it holds now. */
function counting(r: SamplingRunner): SamplingRunner & { live: Set<SeqId> } {
  const live = new Set<SeqId>();
  const c = Object.create(r) as SamplingRunner & { live: Set<SeqId> };
  c.live = live;
  const add = (s: SeqId[]) => (s.forEach((x) => live.add(x)), s);
  c.createSeq = async () => add([await r.createSeq()])[0]!;
  c.forkSeq = async (src, count, length) => add(await r.forkSeq(src, count, length));
  c.forkSampled = async (src, specs) => {
    const f = await r.forkSampled(src, specs);
    add(f.seqs);
    return f;
  };
  c.freeSeq = async (s) => {
    live.delete(s);
    await r.freeSeq(s);
  };
  return c;
}

function engineOn(r: SamplingRunner, cacheTokens: number, prefillChunk?: number): Engine {
  return new Engine({ runner: r, tokenizer: { encode: () => [1], decode: (ids: number[]) => ids.join(' '), decodeWithSpecial: (ids: number[]) => ids.join(' '), tokenText: (i: number) => String(i) }, stats: new RequestStats(createMetrics()), maxBatch: 8, maxQueue: 8, measureSpeedup: false, prefixCacheTokens: cacheTokens, prefillChunk });
}

async function generate(engine: Engine, prompt: number[], o: { plan?: SkipPlan; promptLogprobs?: number; signal?: AbortSignal } = {}): Promise<GenerationResult> {
  const plan = o.plan ?? FULL_PLAN;
  const req: GenerationRequest = {
    promptTokens: prompt, promptText: 'x', n: 3, returnN: 3, maxTokens: 8, sampling: { temperature: 0.8, topP: 1, topK: 0 }, seed: 11, stop: [], ignoreEos: true,
    logprobs: true, topLogprobs: 0, echo: o.promptLogprobs !== undefined, promptLogprobs: o.promptLogprobs ?? null,
    policyOptions: { plan: { skip_attention: plan.skipAttention, skip_mlp: plan.skipMlp } }, select: 'vote', policy: policies.get('explicit')!, signal: o.signal,
  };
  return (await engine.submit(req)).result;
}

test('a sequence forked from the first m positions of a prompt, fed the rest, gives the float64 reference logits (full model and a skip core)', async () => {
  const ref = new ReferenceModel(openCheckpoint(dir));
  const prompt = tokens(40, 5);
  for (const plan of [FULL_PLAN, core]) {
    const src = await runner.createSeq();
    await runner.step([{ seq: src, tokens: prompt.slice(0, 36), plan, logits: 'none' }]);
    const [kid] = await runner.forkSeq(src, 1, 25);
    assert.equal(runner.seqLength(kid!), 25);
    const out = await runner.step([{ seq: kid!, tokens: prompt.slice(25), plan, logits: 'all' }]);
    assertCloseToRef(out.logits[0]!, ref.forward(prompt, plan).slice(25), `prefix fork, ${coreKey(plan) || 'full'}`);
    for (const s of [src, kid!]) await runner.freeSeq(s);
  }
});

test('through the engine: the same tokens and logprobs with and without the cache; cached tokens counted; other cores and scored prompts do not reuse; a cancelled request frees its copy', async () => {
  const r = counting(runner);
  const cached = engineOn(r, 10_000);
  const plain = engineOn(runner, 0);
  const a = [...shared, ...tokens(10, 100)];
  const b = [...shared, ...tokens(12, 200)];
  const first = await generate(cached, a);
  assert.equal(first.cachedTokens, 0, 'nothing cached yet');
  const second = await generate(cached, b);
  assert.equal(second.cachedTokens, 30, 'the shared 30 tokens are copied');
  const again = await generate(cached, a);
  assert.equal(again.cachedTokens, a.length - 1, 'a repeated prompt copies all but its last position');
  for (const [withCache, prompt] of [[second, b], [again, a]] as const) {
    const without = await generate(plain, prompt);
    assert.equal(without.cachedTokens, 0);
    withCache.candidates.forEach((c, i) => {
      assert.deepEqual(c.tokenIds, without.candidates[i]!.tokenIds, `candidate ${i}: same tokens`);
      assert.ok(maxAbsDiff(c.logprobs.map((l) => l.logprob), without.candidates[i]!.logprobs.map((l) => l.logprob)) <= 1e-4, `candidate ${i}: same logprobs`);
    });
  }
  assert.equal((await generate(cached, b, { plan: core })).cachedTokens, 0, "another skip core's keys and values differ: no reuse");
  assert.equal((await generate(cached, [...shared, ...tokens(5, 300)], { plan: core })).cachedTokens, 30, 'the core has its own entries');
  assert.equal((await generate(cached, b, { promptLogprobs: 1 })).cachedTokens, 0, 'a prompt whose logprobs are asked is fed whole');
  assert.equal((await generate(cached, [...shared.slice(0, 10), ...tokens(30, 400)])).cachedTokens, 0, 'a shared prefix under 16 tokens is not reused');
  assert.ok(cached.prefixCacheTokens() > 0);
  // Cancelled while its copied prefix waits for the rest of its prompt: the copy is freed, the entry stays.
  const abort = new AbortController();
  const cancelled = generate(cached, [...shared, ...tokens(200, 777)], { signal: abort.signal });
  setImmediate(() => abort.abort());
  await assert.rejects(cancelled);
  assert.equal((await generate(cached, [...shared, ...tokens(8, 611)])).cachedTokens, 30);
  await cached.drain(1000);
  await plain.drain(1000);
  assert.equal(r.live.size, 0, 'the cached prompts are freed when the engine stops');
});

test('chunked prefill after a copied prefix: the rest fed in chunks of 7 gives what a whole prefill gives', async () => {
  const cached = engineOn(runner, 10_000, 7);
  const plain = engineOn(runner, 0);
  const a = [...shared, ...tokens(12, 50)];
  const b = [...shared, ...tokens(23, 70)];
  await generate(cached, a);
  const got = await generate(cached, b);
  assert.equal(got.cachedTokens, 30);
  const want = await generate(plain, b);
  got.candidates.forEach((c, i) => assert.deepEqual(c.tokenIds, want.candidates[i]!.tokenIds, `candidate ${i}`));
  await cached.drain(1000);
  await plain.drain(1000);
});

test('requests that arrive together with a shared prefix compute it once: the later ones wait for the first and copy it (when the prefix is at least half of the first); a cancelled first releases them', async () => {
  const r = counting(runner);
  const cached = engineOn(r, 10_000, 16);
  const plain = engineOn(runner, 0);
  const lead = [...shared, ...tokens(20, 31)];
  const others = [tokens(9, 41), tokens(15, 43)].map((t) => [...shared, ...t]);
  const all = await Promise.all([generate(cached, lead), ...others.map((p) => generate(cached, p))]);
  assert.deepEqual(all.map((x) => x.cachedTokens), [0, 30, 30]);
  for (const [i, p] of others.entries()) {
    const want = await generate(plain, p);
    all[i + 1]!.candidates.forEach((c, j) => assert.deepEqual(c.tokenIds, want.candidates[j]!.tokenIds, `request ${i + 1}, candidate ${j}`));
  }
  // A first prompt mostly its own (30 shared of 130): the next does not wait for all of it.
  const long = generate(cached, [...tokens(30, 13), ...tokens(100, 15)]);
  const short = generate(cached, [...tokens(30, 13), ...tokens(5, 17)]);
  assert.deepEqual([(await long).cachedTokens, (await short).cachedTokens], [0, 0]);
  // The first is cancelled while it is fed: the one waiting for it computes its own prompt.
  const abort = new AbortController();
  const first = generate(cached, [...tokens(30, 7), ...tokens(25, 9)], { signal: abort.signal });
  const second = generate(cached, [...tokens(30, 7), ...tokens(5, 11)]);
  setImmediate(() => abort.abort());
  await assert.rejects(first);
  assert.equal((await second).cachedTokens, 0);
  await cached.drain(1000);
  await plain.drain(1000);
  assert.equal(r.live.size, 0);
});

test('past its budget the cache drops the least recently used prompts; a prompt covered by a cached one is not kept twice', async () => {
  const r = counting(runner);
  const cache = new PrefixCache(r, 70);
  const prompts = [tokens(30, 1), tokens(30, 2), tokens(30, 3)];
  for (const p of prompts) {
    const seq = await r.createSeq();
    await r.step([{ seq, tokens: p, plan: FULL_PLAN, logits: 'none' }]);
    await cache.retain('', p, seq);
  }
  assert.equal(cache.tokens(), 64, 'the first prompt went (each holds 32 positions as allocated)');
  assert.equal(r.live.size, 2);
  assert.equal(await cache.lookup('', [...prompts[0]!, 9]), null);
  const hit = await cache.lookup('', [...prompts[2]!, 9]);
  assert.equal(hit?.reused, 30);
  await r.freeSeq(hit!.seq);
  // A prefix of a cached prompt is freed at once.
  const seq = await r.createSeq();
  await r.step([{ seq, tokens: prompts[1]!.slice(0, 20), plan: FULL_PLAN, logits: 'none' }]);
  await cache.retain('', prompts[1]!.slice(0, 20), seq);
  assert.equal(cache.tokens(), 64);
  assert.equal(r.live.size, 2);
  await cache.clear();
  assert.equal(r.live.size, 0);
  assert.equal(cache.tokens(), 0);
});

test('with the cache on, a prompt embedded before is not prefilled again; the same embedding as without', async () => {
  let created = 0;
  const r = Object.create(runner) as SamplingRunner;
  r.createSeq = async () => (created++, runner.createSeq());
  const cached = engineOn(r, 10_000);
  const plain = engineOn(runner, 0);
  const prompt = tokens(20, 3);
  const first = await cached.embed(prompt);
  assert.equal(created, 1);
  const again = await cached.embed([...prompt]);
  assert.equal(created, 1, 'no second embedding prefill');
  assert.equal(again, first);
  assert.ok(maxAbsDiff(first, await plain.embed(prompt)) <= 1e-6);
  await cached.embed(tokens(20, 4));
  assert.equal(created, 2, 'another prompt is embedded');
  await cached.drain(1000);
  await plain.drain(1000);
});

test('the budget in positions: f32 keys and values of every layer', () => {
  assert.equal(prefixCacheTokens({ numLayers: 16, numKvHeads: 2, headDim: 20 }, 64), 13107);
});
