/**
 * Start-up warm-up (Engine.warmUp, SpeedupMeter.warmDense, warmup.ts): on the real runner (onnxruntime in its
 * worker), a warmed engine's first skip-core request builds no probe pool and reports a measured
 * speedup, where an engine without warm-up builds the pool inside that request; the warm-up's
 * request path (warmup.ts) frees its rows; the server runs it at startup unless `--warmup off`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createMetrics } from '../src/metrics/metrics.ts';
import { loadRunner } from '../src/model/runner.ts';
import type { SamplingRunner, SeqId } from '../src/model/runner-types.ts';
import { Engine } from '../src/engine/engine.ts';
import { openLocalEngine } from '../src/engine/local-engine.ts';
import { RequestStats } from '../src/engine/request-stats.ts';
import type { GenerationRequest } from '../src/engine/types.ts';
import type { SkipPlan } from '../src/plans/plan.ts';
import { createPolicyRegistry } from '../src/plans/policies/registry.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';

let dir: string;
let runner: SamplingRunner;
before(async () => {
  dir = makeCheckpoint({ layers: 4, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, maxPositions: 256, seed: 17 });
  runner = await loadRunner({ modelDir: dir, threads: 1, maxBatch: 8 });
});
after(async () => {
  await runner?.close();
});

/** The real runner, counting the sequences created and freed through it. */
function counting(r: SamplingRunner): SamplingRunner & { created: number; freed: number; live: Set<SeqId> } {
  const live = new Set<SeqId>();
  const c = Object.create(r) as SamplingRunner & { created: number; freed: number; live: Set<SeqId> };
  c.created = 0;
  c.freed = 0;
  c.live = live;
  c.createSeq = async () => {
    const s = await r.createSeq();
    c.created++;
    live.add(s);
    return s;
  };
  c.freeSeq = async (s: SeqId) => {
    c.freed++;
    live.delete(s);
    await r.freeSeq(s);
  };
  return c;
}

const core: SkipPlan = { skipAttention: [1, 2], skipMlp: [1, 2], maskHeads: {} };

async function request(engine: Engine, n: number, temperature = 0.8) {
  const policies = await createPolicyRegistry({ info: runner.info, modelDir: dir, defaults: { k: 1, targetSpeedup: 1.25 } });
  const req: GenerationRequest = {
    promptTokens: [5, 6, 7, 8, 9], promptText: 'x', n, returnN: n, maxTokens: 6, sampling: { temperature, topP: 1, topK: 0 }, seed: 3, stop: [], ignoreEos: true,
    logprobs: false, topLogprobs: 0, echo: false, promptLogprobs: null, policyOptions: { plan: { skip_attention: core.skipAttention, skip_mlp: core.skipMlp } }, select: 'vote', policy: policies.get('explicit')!,
  };
  return (await engine.submit(req)).result;
}

function engineOn(r: SamplingRunner, o: Partial<ConstructorParameters<typeof Engine>[0]> = {}): Engine {
  return new Engine({ runner: r, tokenizer: { encode: () => [1], decode: (ids: number[]) => ids.join(' '), decodeWithSpecial: (ids: number[]) => ids.join(' '), tokenText: (i: number) => String(i) }, stats: new RequestStats(createMetrics()), maxBatch: 8, maxQueue: 8, ...o });
}

test('warm-up: the first skip-core request of a warmed batch size builds no probe pool and reports a measured speedup', async () => {
  const r = counting(runner);
  const engine = engineOn(r);
  const w = await engine.warmUp([{ batch: 4, core }]);
  assert.equal(w.steps, 16, '8 dense probe steps and 8 core steps of a request path');
  assert.equal(r.created, 5, "a probe pool of 4 rows and the request path's prompt row (its 4 candidates are forks)");
  assert.equal(r.freed, 5, "the request path's prompt row and candidates are freed again");
  assert.equal(r.live.size, 4, 'the probe pool stays for the requests');
  const before = r.created;
  const res = await request(engine, 4);
  assert.equal(r.created - before, 1, 'only the prompt row is created (its candidates are forks): no probe pool inside the request');
  assert.ok(res.speedup !== null && res.speedup > 0, `speedup ${res.speedup}`);
  await engine.drain(1000);
});

test('without warm-up the first skip-core request builds the probe pool itself', async () => {
  const r = counting(runner);
  const engine = engineOn(r);
  const res = await request(engine, 4);
  assert.equal(r.created, 1 + 4, 'the prompt row and a probe pool of 4 rows');
  assert.ok(res.speedup !== null);
  await engine.drain(1000);
});

test('a warm-up with no core runs the request path on the full model; without speedup measurement, no probe pool', async () => {
  const r = counting(runner);
  const engine = engineOn(r);
  assert.equal((await engine.warmUp([{ batch: 2, core: null }])).steps, 16);
  assert.equal(r.created, 3, 'a probe pool of 2 rows and a prompt row');
  assert.equal(r.live.size, 2);
  await engine.drain(1000);
  const q = counting(runner);
  const quiet = new Engine({ runner: q, tokenizer: { encode: () => [1], decode: () => '', decodeWithSpecial: () => '', tokenText: () => '' }, stats: new RequestStats(createMetrics()), maxBatch: 8, maxQueue: 8, measureSpeedup: false });
  assert.equal((await quiet.warmUp([{ batch: 2, core }])).steps, 8);
  assert.equal(q.created, 1, 'the prompt row only');
  assert.equal(q.live.size, 0);
  await quiet.drain(1000);
});

test('openLocalEngine warms batch 1, 2, 4, 8 and the largest batch by default (speculative cycles too when speculation is on), and not with warmup: false', async () => {
  const on = await openLocalEngine({ modelDir: dir, threads: 1, maxBatch: 16, maxQueue: 8 });
  try {
    assert.deepEqual(on.warmup?.batches, [1, 2, 4, 8, 16]);
    assert.equal(on.warmup?.steps, 80, '16 steps per batch size, on the full model: no calibration, so no default core');
  } finally {
    await on.close();
  }
  // With speculative decoding the warm-up also runs sampled and greedy cycles (the shapes the first
  // speculating request would run first); a failure there would leave the warm-up null.
  const spec = await openLocalEngine({ modelDir: dir, threads: 1, maxBatch: 4, maxQueue: 8, speculativeConfig: JSON.stringify({ method: 'skip', draft: { skip_layers: [1] }, num_speculative_tokens: 2 }) });
  try {
    assert.deepEqual(spec.warmup?.batches, [1, 2, 4]);
    assert.equal(spec.engine.runningRows(), 0);
  } finally {
    await spec.close();
  }
  const off = await openLocalEngine({ modelDir: dir, threads: 1, maxBatch: 4, maxQueue: 8, warmup: false });
  try {
    assert.equal(off.warmup, null);
  } finally {
    await off.close();
  }
});

test("with speculation the warm-up measures a core's verification beside dense probes of its shape: the first speculating request on that core waits for no probe", async (t) => {
  const speculative = { draft: { skipAttention: [3], skipMlp: [3], maskHeads: {} }, tokens: 2 };
  // A runner of its own: the counting wrappers of the tests above number plans on their own.
  const own = await loadRunner({ modelDir: dir, threads: 1, maxBatch: 8 });
  t.after(() => own.close());
  const probed = async (warm: boolean) => {
    const metrics = createMetrics();
    const engine = engineOn(own, { stats: new RequestStats(metrics), speculative });
    if (warm) await engine.warmUp([{ batch: 4, core }]);
    const before = (await metrics.speedupProbe.get()).values[0]?.value ?? 0;
    // Greedy: the four candidates are one path, so the request's rows stay 4 (one verification window).
    const res = await request(engine, 4, 0);
    assert.ok(((await metrics.specCycles.get()).values[0]?.value ?? 0) > 0, 'the request speculated');
    assert.ok(res.speedup !== null && res.speedup > 0);
    await engine.drain(1000);
    return ((await metrics.speedupProbe.get()).values[0]?.value ?? 0) - before;
  };
  assert.equal(await probed(true), 0, 'warmed: no probe');
  assert.ok((await probed(false)) > 0, 'not warmed: its first cycles pair the verification with dense probes');
});
