// Scheduler and engine loop behaviour with a fake runner (the only place a fake runner is used;
// end-to-end tests run the real runtime).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../src/engine/engine.ts';
import { Scheduler } from '../src/engine/scheduler.ts';
import { builtinRegistry } from '../src/plans/policies/registry.ts';
import { createMetrics } from '../src/metrics/metrics.ts';
import { CancelledError, DeadlineExceededError, InvalidRequestError, QueueFullError } from '../src/errors.ts';
import type { ModelRunner, StepRow, StepOutput } from '../src/model/runner-types.ts';
import type { ModelInfo } from '../src/model/model-info.ts';
import type { GenerationRequest } from '../src/engine/types.ts';
import { FULL_PLAN } from '../src/plans/plan.ts';

const VOCAB = 16;
const info: ModelInfo = { id: 'fake', dir: '/nowhere', architecture: 'LlamaForCausalLM', numLayers: 2, numHeads: 4, numKvHeads: 4, headDim: 4, hiddenSize: 16, intermediateSize: 32, vocabSize: VOCAB, maxPositions: 64, eosTokenIds: [15] };

/** Deterministic fake: the next token is (length of the sequence) % 10, never eos. */
class FakeRunner implements ModelRunner {
  readonly info = info;
  live = new Map<number, number>();
  steps: StepRow[][] = [];
  forks: [number, number][] = [];
  private next = 1;
  constructor(private readonly delayMs = 0) {}
  async createSeq() {
    this.live.set(this.next, 0);
    return this.next++;
  }
  async forkSeq(src: number, count: number) {
    this.forks.push([src, count]);
    return Array.from({ length: count }, () => {
      this.live.set(this.next, this.live.get(src)!);
      return this.next++;
    });
  }
  async freeSeq(seq: number) {
    this.live.delete(seq);
  }
  seqLength(seq: number) {
    return this.live.get(seq) ?? 0;
  }
  async step(rows: StepRow[]): Promise<StepOutput> {
    this.steps.push(rows);
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const logits = rows.map((r) => {
      const len = this.live.get(r.seq)! + r.tokens.length;
      this.live.set(r.seq, len);
      const l = new Float32Array(VOCAB);
      l[len % 10] = 5;
      return l;
    });
    return { logits, embeddings: rows.map(() => null), runMs: 1 };
  }
  async close() {}
}

const tokenizer = { encode: () => [1, 2, 3], decode: (ids: number[]) => ids.map((i) => String.fromCharCode(97 + i)).join(''), tokenText: (i: number) => String.fromCharCode(97 + i) };
const greedy = () => (l: Float32Array) => {
  const token = l.indexOf(Math.max(...l));
  return { token, logprob: l[token]! - Math.log(l.reduce((s, x) => s + Math.exp(x), 0)) };
};

function makeEngine(runner: FakeRunner, maxBatch = 8, maxQueue = 8, prefillChunk = 512) {
  const metrics = createMetrics();
  const engine = new Engine({
    runner,
    tokenizer,
    policies: builtinRegistry({ info, modelDir: '/nowhere', defaults: { k: 1 } }),
    metrics,
    sampler: greedy,
    planCost: (p) => (p.skipAttention.length + p.skipMlp.length) / 10,
    validatePlan: (p) => p,
    profile: { batches: [1, 8], contexts: [16], ms: [[1, 1]] },
    maxBatch,
    maxQueue,
    prefillChunk,
  });
  return { engine, metrics };
}

function req(over: Partial<GenerationRequest> = {}): GenerationRequest {
  return { promptTokens: [1, 2, 3], promptText: 'abc', n: 1, maxTokens: 4, sampling: { temperature: 0, topP: 1, topK: 0 }, seed: 7, stop: [], logprobs: false, topLogprobs: 0, policy: 'none', policyOptions: {}, select: 'vote', ...over };
}

test('scheduler admits FIFO within max batch and groups rows by skip core', () => {
  const s = new Scheduler<{ n: number; coreKey: string; rows: { finished: boolean }[] }>(4, 1);
  const a = { n: 3, coreKey: 'x', rows: [] as { finished: boolean }[] };
  const b = { n: 2, coreKey: 'y', rows: [] as { finished: boolean }[] };
  assert.ok(s.tryReserve());
  s.enqueue(a);
  assert.deepEqual(s.admit(), [a]);
  assert.ok(s.tryReserve());
  s.enqueue(b);
  assert.deepEqual(s.admit(), [], 'b does not fit next to a');
  assert.equal(s.tryReserve(), false, 'queue of 1 is full while b waits');
  a.rows = [{ finished: true }, { finished: true }, { finished: false }];
  assert.deepEqual(s.admit(), [b]);
  b.rows = [{ finished: false }, { finished: false }];
  assert.deepEqual(s.decodeGroups().map((g) => g.length), [2, 1]);
});

test('best-of-n prefills the prompt once and forks n rows; every row is freed', async () => {
  const runner = new FakeRunner();
  const { engine, metrics } = makeEngine(runner);
  const h = await engine.submit(req({ n: 4, policy: 'random-heads', policyOptions: { k: 2 } }));
  const r = await h.result;
  assert.equal(r.candidates.length, 4);
  assert.equal(runner.steps[0]!.length, 1, 'one prefill row');
  assert.deepEqual(runner.steps[0]![0]!.tokens, [1, 2, 3]);
  assert.deepEqual(runner.forks.map((f) => f[1]), [4]);
  assert.equal(new Set(r.candidates.map((c) => JSON.stringify(c.plan))).size, 4, 'distinct plans');
  assert.ok(runner.steps.slice(1).every((s) => s.length === 4), 'children decode together');
  assert.equal(runner.live.size, 0);
  assert.equal(r.candidates[0]!.tokenIds.length, 4);
  assert.equal(r.candidates[0]!.finishReason, 'length');
  assert.equal(engine.runningRows(), 0);
  assert.match(await metrics.registry.metrics(), /skipserve_unique_answers_ratio_count\{policy="random-heads"\} 1/);
  await engine.drain(100);
});

test('chunked prefill: long prompts are fed in chunks between decode steps of running rows', async () => {
  const runner = new FakeRunner(2);
  const { engine } = makeEngine(runner, 8, 8, 4);
  const a = await engine.submit(req({ maxTokens: 12 }));
  await new Promise((r) => setTimeout(r, 15));
  const long = Array.from({ length: 10 }, (_, i) => i + 1);
  const b = await engine.submit(req({ n: 2, promptTokens: long, maxTokens: 2 }));
  await Promise.all([a.result, b.result]);
  const promptSeq = runner.steps.flat().find((r) => r.tokens.length === 4 && r.tokens[0] === 1)!.seq;
  const fed = runner.steps.flatMap((s) => s.filter((r) => r.seq === promptSeq).map((r) => r.tokens));
  assert.deepEqual(fed, [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]], 'three chunks of at most 4 tokens, then forked');
  const first = runner.steps.findIndex((s) => s.some((r) => r.seq === promptSeq));
  const last = runner.steps.length - 1 - [...runner.steps].reverse().findIndex((s) => s.some((r) => r.seq === promptSeq));
  assert.ok(runner.steps.slice(first, last).some((s) => s.some((r) => r.seq !== promptSeq && r.tokens.length === 1)), 'decode steps of the running request ran between the chunks');
  assert.equal(runner.live.size, 0);
  await engine.drain(100);
});

test('continuous batching: a request arriving mid-generation joins the running batch', async () => {
  const runner = new FakeRunner(5);
  const { engine } = makeEngine(runner);
  const a = await engine.submit(req({ maxTokens: 20 }));
  await new Promise((r) => setTimeout(r, 30));
  const b = await engine.submit(req({ maxTokens: 3, seed: 1 }));
  const [ra, rb] = await Promise.all([a.result, b.result]);
  assert.equal(ra.candidates[0]!.tokenIds.length, 20);
  assert.equal(rb.candidates[0]!.tokenIds.length, 3);
  assert.ok(runner.steps.some((s) => s.length === 2), 'a decode step carried both requests');
  await engine.drain(100);
});

test('requests with different skip cores decode in separate steps', async () => {
  const runner = new FakeRunner(2);
  const { engine } = makeEngine(runner);
  const skip = { skipAttention: [1], skipMlp: [], maskHeads: {} };
  const a = await engine.submit(req({ n: 2, maxTokens: 6 }));
  const b = await engine.submit(req({ n: 2, maxTokens: 6, policy: 'explicit', policyOptions: { plan: skip } }));
  const rb = await b.result;
  await a.result;
  for (const s of runner.steps.filter((s) => s.length > 1 && s.every((r) => r.tokens.length === 1))) {
    assert.equal(new Set(s.map((r) => r.plan.skipAttention.join())).size, 1, 'one core per step');
  }
  assert.equal(rb.skippedComputeRatio, 0.1);
  await engine.drain(100);
});

test('queue limit refuses at once; bad n and unknown policy are invalid', async () => {
  const runner = new FakeRunner(10);
  const { engine } = makeEngine(runner, 1, 1);
  const a = await engine.submit(req({ maxTokens: 30 }));
  await new Promise((r) => setTimeout(r, 15));
  const b = await engine.submit(req({ maxTokens: 1 }));
  await assert.rejects(engine.submit(req()), QueueFullError);
  await assert.rejects(engine.submit(req({ n: 2 })), (e: InvalidRequestError) => e.param === 'n');
  await assert.rejects(engine.submit(req({ policy: 'nope' })), (e: InvalidRequestError) => e.param === 'skip.policy');
  await Promise.all([a.result, b.result]);
  await engine.drain(100);
});

test('cancellation and deadlines free the rows at the next step', async () => {
  const runner = new FakeRunner(5);
  const { engine } = makeEngine(runner);
  const ac = new AbortController();
  const a = await engine.submit(req({ n: 3, maxTokens: 50, signal: ac.signal }));
  const seen: string[] = [];
  const reading = (async () => {
    for await (const d of a.events) {
      seen.push(d.text);
      if (seen.length === 4) ac.abort();
    }
  })();
  await assert.rejects(reading, CancelledError);
  await assert.rejects(a.result, CancelledError);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(engine.runningRows(), 0);
  assert.equal(runner.live.size, 0);
  const d = await engine.submit(req({ maxTokens: 50, deadline: Date.now() + 40 }));
  await assert.rejects(d.result, DeadlineExceededError);
  const ok = await engine.submit(req({ plan: FULL_PLAN } as Partial<GenerationRequest>));
  assert.equal((await ok.result).candidates.length, 1, 'the engine keeps serving');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(runner.live.size, 0);
  await engine.drain(100);
});
