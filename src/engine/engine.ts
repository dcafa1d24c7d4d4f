/**
 * The engine: one loop that owns the model runner. Between steps it drops cancelled requests,
 * admits waiting ones (continuous batching), feeds the next prompt chunks (each prompt prefilled
 * once, under its skip core, then forked into the candidates' rows); then it runs one decode step
 * per skip-core group, samples on this thread and streams the deltas. Rows finish independently
 * and free their KV.
 */
import type { ModelRunner, StepRow } from '../model/runner-types.ts';
import { FULL_PLAN, type SkipPlan } from '../plans/plan.ts';
import type { PolicyRegistry } from '../plans/policies/registry.ts';
import { InvalidRequestError, PolicyUnavailableError, QueueFullError, SkipserveError, UnavailableError, asSkipserveError } from '../errors.ts';
import type { Metrics, Outcome } from '../metrics/metrics.ts';
import { markCounted } from '../metrics/outcomes.ts';
import { coreKey, planKey } from './best-of-n.ts';
import { CandidateRow } from './candidate-row.ts';
import { DenseBaseline, type DenseProfile } from './dense-profile.ts';
import { ParentRequest } from './parent-request.ts';
import { ChunkedPrefill } from './prefill.ts';
import { Scheduler } from './scheduler.ts';
import type { CandidateDelta, GenerationRequest, GenerationResult, SamplerFactory, TextTokenizer } from './types.ts';

export interface EngineOptions {
  runner: ModelRunner;
  tokenizer: TextTokenizer;
  policies: PolicyRegistry;
  metrics: Metrics;
  sampler: SamplerFactory;
  /** FLOP fraction a plan removes (plans/plan.ts cost). */
  planCost: (plan: SkipPlan) => number;
  /** Returns the plan normalized; throws an InvalidRequestError naming the field when it does not fit the model. */
  validatePlan: (plan: SkipPlan, param: string) => SkipPlan;
  profile: DenseProfile | null;
  maxBatch: number;
  maxQueue: number;
  /** Most prompt tokens fed per engine step (chunked prefill). */
  prefillChunk?: number;
  onError?: (err: unknown) => void;
}

/** A submitted request: its plans, its stream of deltas and its final result. */
export interface RequestHandle {
  plans: SkipPlan[];
  events: AsyncIterable<CandidateDelta>;
  result: Promise<GenerationResult>;
}

/** Core key of a group that skips nothing (its steps are dense compute). */
const DENSE_KEY = coreKey(FULL_PLAN);

export class Engine {
  private readonly scheduler: Scheduler<ParentRequest, CandidateRow>;
  private wakeUp: (() => void) | null = null;
  private lock: Promise<unknown> = Promise.resolve();
  private draining = false;
  private stopped = false;
  private readonly loopDone: Promise<void>;

  private readonly baseline: DenseBaseline | null;
  private readonly prefill: ChunkedPrefill;

  constructor(private readonly o: EngineOptions) {
    this.scheduler = new Scheduler(o.maxBatch, o.maxQueue);
    this.prefill = new ChunkedPrefill(o.runner, o.prefillChunk ?? 512);
    this.baseline = o.profile ? new DenseBaseline(o.profile) : null;
    this.loopDone = this.loop();
  }

  /** Validates, picks the plans with the request's policy and queues it; refuses at once when the queue is full. */
  async submit(req: GenerationRequest): Promise<RequestHandle> {
    const m = this.o.metrics;
    const label = this.o.policies.get(req.policy) ? req.policy : 'unknown';
    const reject = (err: SkipserveError, outcome: Outcome): never => {
      m.requests.inc({ policy: label, outcome });
      markCounted(err);
      throw err;
    };
    if (this.draining) reject(new UnavailableError('the server is shutting down'), 'rejected');
    if (req.n < 1 || req.n > this.o.maxBatch) reject(new InvalidRequestError(`n must be between 1 and ${this.o.maxBatch} (the server's --max-batch); got ${req.n}`, 'n'), 'invalid');
    const policy = this.o.policies.get(req.policy);
    if (!policy) reject(new InvalidRequestError(`unknown policy '${req.policy}'; known: ${this.o.policies.names().join(', ')}`, 'skip.policy'), 'invalid');
    const why = policy!.unavailableReason();
    if (why) reject(new PolicyUnavailableError(`policy '${req.policy}' is unavailable: ${why}`, 'skip.policy'), 'invalid');
    if (!this.scheduler.tryReserve()) reject(new QueueFullError(`the queue is full (${this.o.maxQueue} requests waiting); retry later`), 'rejected');
    let parent: ParentRequest;
    try {
      let embedding: Promise<Float32Array> | null = null;
      const chosen = await policy!.choose({
        info: this.o.runner.info,
        n: req.n,
        seed: req.seed,
        promptTokens: req.promptTokens,
        promptText: req.promptText,
        options: req.policyOptions,
        embedPrompt: () => (embedding ??= this.embed(req.promptTokens)),
      });
      if (chosen.plans.length !== req.n) throw new SkipserveError(`policy '${req.policy}' returned ${chosen.plans.length} plans for n=${req.n}`);
      const plans = chosen.plans.map((p, i) => this.o.validatePlan(p, `skip_plan[${i}] (from policy '${req.policy}')`));
      parent = new ParentRequest(req, plans, chosen.detail, () => this.wake());
    } catch (err) {
      this.scheduler.release();
      const e = asSkipserveError(err);
      reject(e, e.httpStatus < 500 ? 'invalid' : 'error');
    }
    if (parent!.cancellation.reason) {
      this.scheduler.release();
      reject(parent!.cancellation.reason, 'cancelled');
    }
    this.scheduler.enqueue(parent!);
    this.updateGauges();
    this.wake();
    return { plans: parent!.plans, events: parent!.events, result: parent!.result };
  }

  /** Rows decoding now (for /metrics and tests). */
  runningRows(): number {
    return this.scheduler.rowsInUse();
  }

  waitingRequests(): number {
    return this.scheduler.waitingCount();
  }

  /** Stops admitting, lets in-flight requests finish (cancelling them after `timeoutMs`), then stops the loop. */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    const deadline = Date.now() + timeoutMs;
    while (!(this.scheduler.idle() && this.scheduler.waitingCount() === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const p of [...this.scheduler.runningRequests(), ...this.scheduler.waitingRequests()]) p.cancellation.cancel(new UnavailableError('the server shut down before the request finished'));
    this.stopped = true;
    this.wake();
    await this.loopDone;
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  /** Runs `fn` while no other runner call is in flight (the loop and prompt embeddings share the runner). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => {});
    return run;
  }

  /** Mean-pooled prompt embedding for policies that need one (one extra full-plan prefill). */
  private embed(tokens: number[]): Promise<Float32Array> {
    return this.exclusive(async () => {
      const seq = await this.o.runner.createSeq();
      try {
        const out = await this.o.runner.step([{ seq, tokens, plan: FULL_PLAN, logits: 'last', embed: true }]);
        const e = out.embeddings[0];
        if (!e) throw new SkipserveError('the runtime returned no prompt embedding');
        return e;
      } finally {
        await this.o.runner.freeSeq(seq);
      }
    });
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        this.reap();
        const admitted = this.scheduler.admit();
        if (admitted.length) await this.exclusive(() => this.admit(admitted));
        if (this.prefill.pending()) await this.exclusive(() => this.prefillStep());
        this.reap();
        for (const group of this.scheduler.decodeGroups()) await this.exclusive(() => this.decode(group));
        this.updateGauges();
        if (this.scheduler.idle() && !this.stopped) await new Promise<void>((r) => (this.wakeUp = r));
      } catch (err) {
        this.o.onError?.(err);
        for (const p of this.scheduler.runningRequests()) this.failParent(p, asSkipserveError(err), 'error');
      }
    }
  }

  /** Drops cancelled or expired requests and frees their rows. */
  private reap(): void {
    for (const p of [...this.scheduler.runningRequests(), ...this.scheduler.waitingRequests()]) {
      const reason = p.cancellation.reason;
      if (reason) this.failParent(p, reason, reason.code === 'deadline_exceeded' ? 'deadline' : 'cancelled');
    }
  }

  private failParent(p: ParentRequest, err: SkipserveError, outcome: Outcome): void {
    this.scheduler.remove(p);
    this.prefill.drop(p);
    for (const r of p.rows) if (!r.finished) void this.o.runner.freeSeq(r.seq);
    p.fail(err);
    markCounted(err);
    this.o.metrics.requests.inc({ policy: p.req.policy, outcome });
    this.updateGauges();
  }

  /** Starts the prefill of newly admitted requests. */
  private async admit(admitted: ParentRequest[]): Promise<void> {
    const now = performance.now();
    for (const p of admitted) {
      p.admittedAt = now;
      this.o.metrics.queueTime.observe({ policy: p.req.policy }, (now - p.arrivedAt) / 1000);
      await this.prefill.start(p);
    }
  }

  /** One chunked-prefill step; each prompt completed by it forks its candidates and samples their first tokens. */
  private async prefillStep(): Promise<void> {
    const { runner, metrics } = this.o;
    for (const { parent: p, logits } of await this.prefill.step()) {
      if (p.done || p.cancellation.reason) continue; // reaped at the next step
      metrics.promptTokens.inc({ policy: p.req.policy }, p.req.promptTokens.length);
      const seq = p.promptSeq!;
      const shared = p.n === 1 && planKey(p.plans[0]!) === planKey(p.core);
      const children = shared ? [seq] : await runner.forkSeq(seq, p.n);
      if (!shared) await runner.freeSeq(seq);
      p.promptSeq = null;
      const limits = { maxTokens: p.req.maxTokens, eosTokenIds: p.req.ignoreEos ? [] : runner.info.eosTokenIds, stop: p.req.stop, topLogprobs: p.req.logprobs ? p.req.topLogprobs : -1 };
      p.rows = children.map((s, c) => new CandidateRow(c, s, p.plans[c]!, this.o.sampler(p.req.sampling, p.req.seed + c), this.o.tokenizer, p.req.promptTokens, limits));
      for (const row of p.rows) this.owners.set(row, p);
      for (const row of p.rows) this.accept(p, row, logits);
    }
  }

  /** One decode step for a group of rows sharing a skip core. */
  private async decode(group: CandidateRow[]): Promise<void> {
    const owners = group.map((r) => this.ownerOf(r));
    const rows: StepRow[] = group.map((r) => ({ seq: r.seq, tokens: [r.lastToken], plan: r.plan, logits: 'last' }));
    const out = await this.o.runner.step(rows);
    this.o.metrics.batchSize.observe(group.length);
    if (this.baseline) {
      const ctx = group.reduce((s, r) => s + this.o.runner.seqLength(r.seq), 0) / group.length;
      const dense = this.baseline.expectedMs(group.length, ctx);
      for (const p of new Set(owners)) {
        p.denseMs += dense;
        p.runMs += out.runMs;
      }
      if (owners[0]!.coreKey === DENSE_KEY) this.baseline.observeDense(group.length, ctx, out.runMs);
    }
    // Sampling a large vocabulary costs milliseconds per row: let HTTP/gRPC handlers run between rows.
    const yieldEvery = this.o.runner.info.vocabSize >= 16384 ? 1 : 64;
    for (const [i, row] of group.entries()) {
      const p = owners[i]!;
      if (!p.done && !p.cancellation.reason && !row.finished) this.accept(p, row, out.logits[i]!);
      if ((i + 1) % yieldEvery === 0) await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** The request each row belongs to. */
  private readonly owners = new WeakMap<CandidateRow, ParentRequest>();

  private ownerOf(row: CandidateRow): ParentRequest {
    return this.owners.get(row)!;
  }

  /** Samples one row's next token, streams it and finishes the row (and the request) when done. */
  private accept(p: ParentRequest, row: CandidateRow, logits: Float32Array): void {
    const { metrics, runner } = this.o;
    const policy = p.req.policy;
    const now = performance.now();
    const delta = row.accept(logits);
    if (delta.tokenIds.length) {
      metrics.generationTokens.inc({ policy }, delta.tokenIds.length);
      if (p.firstTokenAt === null) {
        p.firstTokenAt = now;
        metrics.timeToFirstToken.observe({ policy }, (now - p.arrivedAt) / 1000);
      } else if (row.lastTokenAt > 0) {
        metrics.interTokenLatency.observe({ policy }, (now - row.lastTokenAt) / 1000);
      }
      row.lastTokenAt = now;
    }
    if (!row.finished && runner.seqLength(row.seq) + 1 >= runner.info.maxPositions) {
      delta.text += row.finish('length').text;
      delta.finishReason = 'length';
    }
    if (delta.text || delta.tokenIds.length || delta.finishReason) p.events.push(delta);
    if (row.finished) {
      void runner.freeSeq(row.seq);
      if (p.allFinished()) this.completeParent(p);
    }
  }

  private completeParent(p: ParentRequest): void {
    const { metrics, runner } = this.o;
    this.scheduler.remove(p);
    const policy = p.req.policy;
    const result = p.complete(runner.info, this.o.planCost(p.core));
    metrics.requests.inc({ policy, outcome: 'ok' });
    metrics.requestDuration.observe({ policy }, (performance.now() - p.arrivedAt) / 1000);
    if (result.speedup !== null) metrics.speedup.observe({ policy }, result.speedup);
    metrics.skippedCompute.observe({ policy }, result.skippedComputeRatio);
    if (p.n >= 2) {
      const d = result.diversity;
      metrics.uniqueAnswers.observe({ policy }, d.uniqueAnswers);
      metrics.answerEntropy.observe({ policy }, d.answerEntropy);
      metrics.distinct2.observe({ policy }, d.distinct2);
      metrics.pairwiseDistance.observe({ policy }, d.meanPairwiseDistance);
      metrics.majorityShare.observe({ policy }, d.majorityShare);
    }
    this.updateGauges();
  }

  private updateGauges(): void {
    this.o.metrics.runningRows.set(this.scheduler.rowsInUse());
    this.o.metrics.waitingRequests.set(this.scheduler.waitingCount());
  }
}
