// Scheduler and engine loop behaviour with a fake runner (the only place a fake runner is used;
// end-to-end tests run the real runtime).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../src/engine/engine.ts';
import { prepareRequest, type RequestServices } from '../src/engine/prepare-request.ts';
import { RequestStats } from '../src/engine/request-stats.ts';
import { Scheduler } from '../src/engine/scheduler.ts';
import { SpeedupMeter, endToEndSpeedup } from '../src/engine/speedup-meter.ts';
import { createPolicyRegistry } from '../src/plans/policies/registry.ts';
import { createMetrics } from '../src/metrics/metrics.ts';
import { CancelledError, DeadlineExceededError, InvalidRequestError, PolicyUnavailableError, QueueFullError } from '../src/errors.ts';
import type { SampledToken, SamplerSpec, SamplingRunner, StepRow, StepOutput } from '../src/model/runner-types.ts';
import type { ModelInfo } from '../src/model/model-info.ts';
import type { GenerationRequest } from '../src/engine/types.ts';
import { planCost } from '../src/plans/cost.ts';

const info: ModelInfo = { id: 'fake', dir: '/nowhere', architecture: 'LlamaForCausalLM', numLayers: 2, numHeads: 4, numKvHeads: 4, headDim: 4, hiddenSize: 16, intermediateSize: 32, vocabSize: 16, maxPositions: 64, eosTokenIds: [15] };

/** Deterministic fake: the next token is (length of the sequence) % 10, never eos (drawn "in the runtime"). */
class FakeRunner implements SamplingRunner {
  readonly info = info;
  readonly runtime = { weights: 'f32' as const, threads: 1, spin: false, spinReason: 'fake', coreGraphs: 0 };
  live = new Map<number, number>();
  steps: StepRow[][] = [];
  forks: [number, number][] = [];
  private next = 1;
  constructor(private readonly delayMs = 0) {}
  async createSeq() {
    this.live.set(this.next, 0);
    return this.next++;
  }
  /** Sequences made by forking (the candidates' rows). */
  children = new Set<number>();
  async forkSeq(src: number, count: number) {
    this.forks.push([src, count]);
    for (let i = 0; i < count; i++) this.children.add(this.next + i);
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
    const sampled = rows.map((r) => {
      const len = this.live.get(r.seq)! + r.tokens.length;
      this.live.set(r.seq, len);
      return r.sample ? token(len) : null;
    });
    return { logits: rows.map(() => new Float32Array(0)), embeddings: rows.map(() => null), sampled, runMs: 1 };
  }
  async forkSampled(src: number, specs: SamplerSpec[]) {
    const seqs = await this.forkSeq(src, specs.length);
    return { seqs, sampled: seqs.map(() => token(this.live.get(src)!)) };
  }
  async close() {}
}

function token(len: number): SampledToken {
  return { token: len % 10, logprob: -0.1, top: [] };
}

const letters = (ids: number[]) => ids.map((i) => String.fromCharCode(97 + i)).join('');
const tokenizer = { encode: () => [1, 2, 3], decode: letters, decodeWithSpecial: letters, tokenText: (i: number) => String.fromCharCode(97 + i) };
const policies = await createPolicyRegistry({ info, modelDir: '/nowhere', defaults: { k: 1, targetSpeedup: 1.25 } });

function makeEngine(runner: FakeRunner, maxBatch = 8, maxQueue = 8, prefillChunk = 512) {
  const metrics = createMetrics();
  const engine = new Engine({ runner, tokenizer, stats: new RequestStats(metrics), maxBatch, maxQueue, prefillChunk });
  return { engine, metrics };
}

function req(over: Partial<Omit<GenerationRequest, 'policy'>> & { policy?: string } = {}): GenerationRequest {
  const { policy = 'none', ...rest } = over;
  return { promptTokens: [1, 2, 3], promptText: 'abc', n: 1, returnN: over.n ?? 1, maxTokens: 4, sampling: { temperature: 0, topP: 1, topK: 0 }, seed: 7, stop: [], ignoreEos: false, logprobs: false, topLogprobs: 0, echo: false, promptLogprobs: null, policyOptions: {}, select: 'vote', ...rest, policy: policies.get(policy)! };
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

test('a beam search holds its n rows while some of its beams have ended: nothing is admitted into the rows its next step can fill again', () => {
  type Req = { n: number; coreKey: string; holdsAllRows?: boolean; rows: { finished: boolean }[] };
  const s = new Scheduler<Req>(3, 4);
  const beams: Req = { n: 3, coreKey: 'x', holdsAllRows: true, rows: [] };
  const other: Req = { n: 1, coreKey: 'x', rows: [] };
  for (const p of [beams, other]) {
    assert.ok(s.tryReserve());
    s.enqueue(p);
  }
  assert.deepEqual(s.admit(), [beams]);
  // Two beams ended (a stop string, a length): one live beam, whose next step may choose three continuations again.
  beams.rows = [{ finished: true }, { finished: false }, { finished: true }];
  assert.equal(s.rowsInUse(), 3);
  assert.deepEqual(s.admit(), [], 'the one-row request waits: beside the search it would make a step of 4 rows on a max batch of 3');
  // (Before, it was admitted and the next step failed every row with "batch of 4 rows exceeds maxBatch 3": test/api-engine-differential.test.ts.)
  s.remove(beams);
  assert.deepEqual(s.admit(), [other]);
});

test('priority: lower is admitted first, equal priorities in arrival order, never overtaking a head that does not fit', () => {
  type Req = { n: number; coreKey: string; rows: { finished: boolean }[]; priority?: number; name: string };
  const s = new Scheduler<Req>(2, 8);
  const mk = (name: string, priority?: number, n = 1): Req => ({ name, n, coreKey: 'x', rows: [], ...(priority !== undefined ? { priority } : {}) });
  for (const r of [mk('a'), mk('b', 5), mk('c', -1), mk('d'), mk('e', -1), mk('f', 5)]) {
    assert.ok(s.tryReserve());
    s.enqueue(r);
  }
  assert.deepEqual(s.waitingRequests().map((r) => r.name), ['c', 'e', 'a', 'd', 'b', 'f']);
  assert.deepEqual(s.admit().map((r) => r.name), ['c', 'e']);
  const big = mk('big', -9, 2);
  assert.ok(s.tryReserve());
  s.enqueue(big);
  const [c, e] = s.runningRequests();
  c!.rows = [{ finished: true }];
  e!.rows = [{ finished: false }];
  assert.deepEqual(s.admit(), [], 'one row free: big does not fit, and a, which would, does not overtake it');
  e!.rows = [{ finished: true }];
  assert.deepEqual(s.admit().map((r) => r.name), ['big']);
});

test('priority in the engine: with one row busy, a queued urgent request runs before an earlier queued one', async () => {
  const runner = new FakeRunner(5);
  const { engine } = makeEngine(runner, 1);
  const done: string[] = [];
  const a = await engine.submit(req({ maxTokens: 30 }));
  const late = await engine.submit(req({ maxTokens: 2, priority: 3 }));
  const urgent = await engine.submit(req({ maxTokens: 2, priority: -3 }));
  await Promise.all([a.result.then(() => done.push('a')), late.result.then(() => done.push('late')), urgent.result.then(() => done.push('urgent'))]);
  assert.deepEqual(done, ['a', 'urgent', 'late']);
  await engine.drain(100);
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
  const skip = { skip_attention: [1] };
  const a = await engine.submit(req({ n: 2, maxTokens: 6 }));
  const b = await engine.submit(req({ n: 2, maxTokens: 6, policy: 'explicit', policyOptions: { plan: skip } }));
  const rb = await b.result;
  await a.result;
  for (const s of runner.steps.filter((s) => s.length > 1 && s.every((r) => r.tokens.length === 1))) {
    assert.equal(new Set(s.map((r) => r.plan.skipAttention.join())).size, 1, 'one core per step');
  }
  assert.equal(rb.skippedComputeRatio, planCost({ skipAttention: [1], skipMlp: [], maskHeads: {} }, info).removedFraction);
  const dense = (r: StepRow) => r.plan.skipAttention.length === 0 && r.plan.skipMlp.length === 0;
  assert.ok(runner.steps.some((s) => s.length === 2 && s.every((r) => dense(r) && r.tokens.length === 1 && !runner.children.has(r.seq))), 'a dense probe step of the same batch size ran on pool rows');
  assert.ok(rb.speedup !== null && rb.speedup > 0);
  await engine.drain(100);
});

test("requests sharing a core's steps get dense probes at their own rows too (their dense equivalent's batch size)", async () => {
  const runner = new FakeRunner(2);
  const { engine } = makeEngine(runner);
  const skip = { skip_attention: [1] };
  const a = await engine.submit(req({ n: 2, maxTokens: 10, policy: 'explicit', policyOptions: { plan: skip } }));
  const b = await engine.submit(req({ n: 2, maxTokens: 10, policy: 'explicit', policyOptions: { plan: skip }, seed: 8 }));
  await Promise.all([a.result, b.result]);
  const probe = (s: StepRow[]) => s.every((r) => r.plan.skipAttention.length === 0 && r.plan.skipMlp.length === 0 && r.tokens.length === 1 && !runner.children.has(r.seq));
  const shared = runner.steps.filter((s) => s.length === 4 && s.every((r) => r.plan.skipAttention.length === 1));
  assert.ok(shared.length > 0, 'the two requests shared steps');
  assert.ok(runner.steps.some((s) => s.length === 4 && probe(s)), 'a probe at the step\'s rows');
  assert.ok(runner.steps.some((s, i) => s.length === 2 && probe(s) && shared.includes(runner.steps[i + 1]!)), 'a probe at a request\'s own rows, right before a shared step');
  await engine.drain(100);
});

test('queue limit refuses at once with a retry hint', async () => {
  const runner = new FakeRunner(10);
  const { engine } = makeEngine(runner, 1, 1);
  const a = await engine.submit(req({ maxTokens: 30 }));
  await new Promise((r) => setTimeout(r, 15));
  const b = await engine.submit(req({ maxTokens: 1 }));
  assert.equal(engine.queueFull(), true);
  await assert.rejects(engine.submit(req()), (e: QueueFullError) => e instanceof QueueFullError && e.retryAfterSeconds >= 1);
  await Promise.all([a.result, b.result]);
  await engine.drain(100);
});

test('a request is checked once, before the engine: n, policy and ranges name the domain field', () => {
  const services: RequestServices = {
    info,
    tokenizer,
    chatTemplate: null,
    policies,
    limits: { maxBatch: 4, defaultMaxTokens: 8 },
    assignPolicy: () => ({ policy: 'none', options: {} }),
  };
  const prompt = { kind: 'text' as const, text: 'abc' };
  assert.equal(prepareRequest(services, { prompt }).n, 1);
  assert.throws(() => prepareRequest(services, { prompt, n: 5 }), (e: InvalidRequestError) => e.field === 'n' && /1 to 4/.test(e.message));
  assert.throws(() => prepareRequest(services, { prompt, skip: { policy: 'nope' } }), (e: InvalidRequestError) => e.field === 'policy');
  assert.throws(() => prepareRequest(services, { prompt, skip: { policy: 'learned' } }), (e: PolicyUnavailableError) => e instanceof PolicyUnavailableError && e.field === 'policy');
  assert.throws(() => prepareRequest(services, { prompt, temperature: 3 }), (e: InvalidRequestError) => e.field === 'temperature');
  assert.throws(() => prepareRequest(services, { prompt, maxTokens: 1000 }), (e: InvalidRequestError) => e.field === 'maxTokens' && e.code === 'context_length_exceeded');
  assert.throws(() => prepareRequest(services, { prompt, skip: { plan: {} } }), (e: InvalidRequestError) => e.field === 'policy');
  assert.throws(() => prepareRequest(services, { prompt, stop: Array(17).fill('x') }), (e: InvalidRequestError) => e.field === 'stop');
  assert.throws(() => prepareRequest(services, { prompt: { kind: 'tokens', tokens: [1, 99] } }), (e: InvalidRequestError) => e.field === 'prompt[1]');
});

test('fair share per core: the group with the least step time steps next, so cheaper cores step more often, whatever their rows', () => {
  type Row = { finished: boolean };
  const s = new Scheduler<{ n: number; coreKey: string; rows: Row[] }>(16, 4);
  const dense = { n: 4, coreKey: 'dense', rows: [] as Row[] };
  const core = { n: 2, coreKey: 'core', rows: [] as Row[] };
  for (const p of [dense, core]) {
    s.tryReserve();
    s.enqueue(p);
  }
  s.admit();
  // The full model's group has more rows in flight (as under mixed load): the core still gets its share.
  dense.rows = [{ finished: false }, { finished: false }, { finished: false }, { finished: false }];
  core.rows = [{ finished: false }, { finished: false }];
  const turns: string[] = [];
  for (let i = 0; i < 70; i++) {
    const g = s.nextGroup()!;
    turns.push(g.key);
    s.charge(g.key, g.key === 'dense' ? 10 : 7.5, g.rows.length);
  }
  const ratio = turns.filter((t) => t === 'core').length / turns.filter((t) => t === 'dense').length;
  assert.ok(Math.abs(ratio - 10 / 7.5) < 0.1, `core steps ${ratio.toFixed(2)}x as often as dense`);
});

test("speedup: dense and core step-time windows give the ratio, robust to slowed steps; a request's speedup is end to end", async () => {
  let t = 0;
  const meter = new SpeedupMeter(new FakeRunner(), () => t);
  assert.equal(meter.needsProbe('k', 4), true);
  meter.record('k', 4, { ms: 12 }, { ms: 8 });
  assert.equal(meter.ratio('k', 4), 1.5);
  assert.equal(meter.ratio('k', 2), 1.5, 'nearest measured batch of the same core');
  assert.equal(meter.ratio('other', 4), 1);
  assert.equal(meter.needsProbe('k', 4), true, 'a new batch size is probed on its first few steps');
  // Other work slows one dense probe 5x and two core steps 4x: the low quantiles keep the ratio.
  meter.record('k', 4, { ms: 60 }, { ms: 8 });
  meter.record('k', 4, { ms: 12 }, { ms: 32 });
  meter.record('k', 4, { ms: 12.5 }, { ms: 8.2 });
  for (let i = 0; i < 4; i++) meter.observe('k', false, 4, i === 1 ? 40 : 8.1);
  assert.ok(Math.abs(meter.ratio('k', 4) - 1.5) < 0.05, `ratio ${meter.ratio('k', 4)}`);
  assert.equal(meter.needsProbe('k', 4), false);
  t += 5000;
  assert.equal(meter.needsProbe('k', 4), true, 'stale dense windows are re-measured');
  meter.observe('dense', true, 4, 12.2);
  assert.equal(meter.needsProbe('k', 4), false, "the real steps of requests that skip nothing are dense samples too");
  // A core moving to its own graph (graph-sessions.ts) starts its window again: the switched
  // graph's slower samples no longer count.
  meter.observe('c', false, 4, 10, 'switched');
  meter.observe('c', false, 4, 10, 'switched');
  assert.ok(Math.abs(meter.ratio('c', 4) - 12.2 / 10) < 0.1);
  meter.observe('c', false, 4, 6, 'core');
  assert.ok(meter.ratio('c', 4) > 1.9, `ratio after the move ${meter.ratio('c', 4)}`);
  // 100 ms wall, 60 ms of it in steps whose dense equivalent is 90 ms: the full model would take 130 ms.
  assert.equal(endToEndSpeedup(100, 60, 90), 1.3);
  assert.equal(endToEndSpeedup(100, 0, 0), null);
});

test("speedup: a core step's dense equivalent adds the typical saving at its batch size (a slowed step's extra time once), the nearest ratio elsewhere", () => {
  const meter = new SpeedupMeter(new FakeRunner(), () => 0);
  assert.equal(meter.denseEquivalentMs('k', 4, 8), 8, 'a core never measured: its own time');
  for (const [d, c] of [[12, 8], [12.4, 8.2], [11.8, 7.9]]) meter.record('k', 4, { ms: d! }, { ms: c! });
  // Medians 12 and 8: a typical step gains 4 ms; one slowed by 10 ms of other work gains 4, not 6.
  assert.ok(Math.abs(meter.denseEquivalentMs('k', 4, 8) - 12) < 1e-9);
  assert.ok(Math.abs(meter.denseEquivalentMs('k', 4, 18) - 22) < 1e-9);
  // At a batch size not measured for the core: the nearest one's ratio (1.5).
  assert.ok(Math.abs(meter.denseEquivalentMs('k', 8, 10) - 15) < 1e-9);
  // Prefills: 20-token prefills of 10 ms gain 5 ms (the ratio's saving); one slowed to 30 ms gains
  // the saving of a typical one (0.5 ms per token), not 15; a faster one no more than its own share.
  assert.ok(Math.abs(meter.prefillDenseEquivalentMs('k', 4, 10, 20) - 15) < 1e-9);
  assert.ok(Math.abs(meter.prefillDenseEquivalentMs('k', 4, 10, 20) - 15) < 1e-9);
  assert.ok(Math.abs(meter.prefillDenseEquivalentMs('k', 4, 30, 20) - 35) < 1e-9);
  assert.ok(Math.abs(meter.prefillDenseEquivalentMs('k', 4, 4, 20) - 6) < 1e-9);
  assert.equal(meter.prefillDenseEquivalentMs('never', 4, 10, 20), 10, 'a core never measured: its own time');
});

test('speedup: once a core has three probe pairs their ratio holds while the machine speeds up or slows down (the windows drift apart)', () => {
  const meter = new SpeedupMeter(new FakeRunner(), () => 0);
  // A slow machine: dense 12, core 8, three probe pairs.
  for (let i = 0; i < 3; i++) meter.record('k', 4, { ms: 12 }, { ms: 8 });
  // Then it is twice as fast, and only the core's real steps come in (no dense request, no probe due yet).
  for (let i = 0; i < 8; i++) meter.observe('k', false, 4, 4);
  // The windows' medians would say 12 / 4 = 3; the pairs say 1.5, and a 4 ms step's dense equivalent is 6.
  assert.ok(Math.abs(meter.ratio('k', 4) - 1.5) < 1e-9, `ratio ${meter.ratio('k', 4)}`);
  assert.ok(Math.abs(meter.denseEquivalentMs('k', 4, 4) - 6) < 1e-9);
});

test('speedup: the meter keeps the windows of the 256 cores fed most recently (clients can name any number)', () => {
  let t = 0;
  const meter = new SpeedupMeter(new FakeRunner(), () => t);
  for (let i = 0; i < 300; i++) {
    t++;
    meter.record(`c${i}`, 4, { ms: 12 }, { ms: 8 });
    meter.prefillDenseEquivalentMs(`c${i}`, 1, 10, 20);
  }
  assert.equal(meter.ratio('c0', 4), 1, 'the first core is forgotten');
  assert.equal(meter.ratio('c299', 4), 1.5);
  assert.equal(meter.ratio('c44', 4), 1.5, 'the 256 most recent are kept');
  assert.equal((meter as unknown as { prefills: Map<string, unknown> }).prefills.size, 256);
});

test('speedup probes: one pool of dense rows for every batch size, topped up together; probes stay within their share of step time', async () => {
  const t = 0;
  const runner = new FakeRunner();
  const meter = new SpeedupMeter(runner, () => t);
  await meter.probe(8, 20);
  assert.equal(runner.live.size, 8, 'eight probe rows');
  assert.deepEqual(runner.steps.map((s) => s.length), [8, 8], 'one top-up step of all rows, then the probe');
  await meter.probe(4, 20);
  await meter.probe(6, 21);
  assert.equal(runner.live.size, 8, 'smaller batch sizes run the first rows of the same pool: no new rows, no prefill');
  assert.deepEqual(runner.steps.slice(2).map((s) => s.length), [4, 6]);
  await meter.probe(10, 22);
  assert.equal(runner.live.size, 10, 'a larger batch size adds only the rows it lacks');
  assert.deepEqual(runner.steps.slice(4).map((s) => [s.length, s[0]!.tokens.length]), [[2, 22], [10, 1]], 'the new rows are prefilled to the context, then probed with the rest');
  await meter.probe(4, 120);
  assert.deepEqual(runner.steps.slice(6).map((s) => s.length), [4, 4], 'rows far behind the real context are topped up');
  // Budget: past the start-up allowance, probes take at most 5% of the real steps' time.
  meter.probeMs = 10_000;
  assert.equal(meter.needsProbe('k', 32), false, 'over budget: a due probe is skipped');
  for (let i = 0; i < 1000; i++) meter.observe('k', false, 16, 200);
  assert.equal(meter.needsProbe('k', 32), true, 'real step time earns probes back');
  await meter.close();
  assert.equal(runner.live.size, 0);
});

test("speedup: a dense window's mean moves with context, at the cost per row and token fitted from the windows", () => {
  const meter = new SpeedupMeter(new FakeRunner(), () => 0);
  // Dense steps of 8 rows at context 150-181 (a request's last steps): 2 ms + 0.01 ms per row and token.
  for (let c = 150; c < 182; c++) meter.observe('', true, 8, 2 + 0.01 * 8 * c, undefined, c);
  const at = (c: number) => 2 + 0.01 * 8 * c;
  assert.ok(Math.abs(meter.denseMeanMs(8)! - at(165.5)) < 1e-6, 'without a context: the window mean');
  assert.ok(Math.abs(meter.denseMeanMs(8, 40)! - at(40)) < 1e-6, `at context 40: ${meter.denseMeanMs(8, 40)}`);
  // Windows whose contexts barely spread give no slope.
  const flat = new SpeedupMeter(new FakeRunner(), () => 0);
  for (let i = 0; i < 8; i++) flat.observe('', true, 4, 3 + (i % 2), undefined, 100 + (i % 3));
  assert.equal(flat.denseMeanMs(4, 10), flat.denseMeanMs(4));
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
  const ok = await engine.submit(req());
  assert.equal((await ok.result).candidates.length, 1, 'the engine keeps serving');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(runner.live.size, 0);
  await engine.drain(100);
});

test("speedup: a speculating core's verification ratio from a dense probe of its shape and the verification after it; the nearest row count, else the decode-step ratio", async () => {
  let t = 0;
  const runner = new FakeRunner();
  const meter = new SpeedupMeter(runner, () => t);
  assert.equal(meter.verifyRatio('c', 8), 1, 'never measured: 1');
  assert.equal(meter.needsVerifyProbe('c', 8), true);
  const probe = await meter.probeVerify(8, 6, 40, 'all');
  assert.deepEqual(runner.steps.at(-1)!.map((r) => [r.tokens.length, r.plan.skipMlp.length, r.logits]), Array(8).fill([6, 0, 'all']), 'rows x tokens on the full model, the logits as the verification asks');
  assert.equal(probe.denseMs, 1);
  assert.ok(meter.probeMs >= 1, 'within the probe budget');
  meter.recordVerify('c', 8, 3, 2);
  assert.equal(meter.verifyRatio('c', 8), 1.5);
  assert.equal(meter.verifyRatio('c', 5), 1.5, 'the nearest row count measured');
  assert.equal(meter.verifyRatio('other', 8), 1, "another core: its decode-step ratio (none yet)");
  meter.recordVerify('c', 8, 3, 2);
  meter.recordVerify('c', 8, 4, 2);
  assert.equal(meter.verifyRatio('c', 8), 1.5, 'the median of the pairs');
  assert.equal(meter.needsVerifyProbe('c', 8), false, 'three pairs, then one in five seconds');
  assert.equal(meter.needsVerifyProbe('c', 6), false, 'row counts share a window by power of two');
  assert.equal(meter.needsVerifyProbe('c', 4), true);
  t += 3000;
  assert.equal(meter.needsVerifyProbe('c', 8), false);
  t += 3000;
  assert.equal(meter.needsVerifyProbe('c', 8), true);
  const spent = meter.probeMs;
  await meter.probeVerify(4, 6, 40, 'none', false);
  assert.equal(meter.probeMs, spent, "the warm-up's probes are outside the budget");
});
