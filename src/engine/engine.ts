/**
 * The engine: one loop that owns the model runner. Between steps it drops cancelled requests,
 * admits waiting ones (continuous batching), feeds the next prompt chunks (each prompt prefilled
 * once, under its skip core, then forked into the candidates' rows); then it runs one decode step
 * for the skip-core group whose turn it is (fair share), samples and streams the deltas. Rows
 * finish independently and free their KV. Beam-search requests rank and fork their rows after each
 * step (beam-search.ts); requests that may speculate (speculation.ts) form a group per skip core
 * whose turns are speculative cycles. Metrics go to RequestStats, the speedup to SpeedupMeter.
 */
import { InvalidRequestError, PolicyUnavailableError, QueueFullError, SkipserveError, UnavailableError, asSkipserveError, isClientError } from '../errors.ts';
import type { ModelInfo } from '../model/model-info.ts';
import type { LiveCore } from '../router/shared-core.ts';
import type { SampledToken, SamplerSpec, SamplingRunner, SpeculativeConfig, StepRow } from '../model/runner-types.ts';
import type { CycleResult } from '../model/speculative-cycle.ts';
import { planCost } from '../plans/cost.ts';
import { coreKey, FULL_PLAN, planKey, type SkipPlan } from '../plans/plan.ts';
import type { Outcome } from '../metrics/metrics.ts';
import { markCounted } from '../metrics/outcomes.ts';
import { CandidateRow, type RowLimits } from './candidate-row.ts';
import { ParentRequest } from './parent-request.ts';
import { BeamSearch, beamTopK } from './beam-search.ts';
import { RecentCores } from './recent-cores.ts';
import { coreOfSpeculativeGroup, CoreDrafts, draftRatio, eligibleForSpeculation, speculativeGroupKey } from './speculation.ts';
import { RequestSpeedup } from './request-speedup.ts';
import { ChunkedPrefill } from './prefill.ts';
import { EmbeddingCache } from './embedding-cache.ts';
import { PrefixCache } from './prefix-cache.ts';
import type { RequestStats } from './request-stats.ts';
import { Scheduler } from './scheduler.ts';
import { LoadLedger } from './load-ledger.ts';
import { SpeedupMeter } from './speedup-meter.ts';
import { warmRequestPath } from './warmup.ts';
import type { CandidateDelta, EchoedPrompt, GenerationRequest, GenerationResult, TextTokenizer } from './types.ts';

/** Where the engine reports a failed step (a pino logger fits). */
export interface EngineLog {
  error(obj: object, msg: string): void;
  /** Where each request's reported speedup came from (its window and the counterfactual's terms). */
  debug?(obj: object, msg: string): void;
}

export interface EngineOptions {
  /** The model runtime; it samples each row's tokens in its worker (the engine never sees logits). */
  runner: SamplingRunner;
  tokenizer: TextTokenizer;
  stats: RequestStats;
  maxBatch: number;
  maxQueue: number;
  /** Most prompt tokens fed per engine step (chunked prefill). */
  prefillChunk?: number;
  /** Prompt positions whose KV is kept for later prompts that start alike (prefix-cache.ts; default 0: off). */
  prefixCacheTokens?: number;
  /** Self-speculative decoding (which rows: speculation.ts; absent: off). */
  speculative?: SpeculativeConfig;
  /** Measure skip-core speedups with dense probe steps (default true). */
  measureSpeedup?: boolean;
  log?: EngineLog;
}

/** A submitted request: its plans, its stream of deltas and its final result. */
export interface RequestHandle {
  plans: SkipPlan[];
  events: AsyncIterable<CandidateDelta>;
  result: Promise<GenerationResult>;
  /** With echo: the prompt to send before the completions (read it once the first delta has arrived: its scores are then complete). */
  echoedPrompt(): EchoedPrompt | undefined;
  /** Tokens of its prompt (as fed). */
  promptTokens: number;
}

/** Core key of a group that skips nothing (its steps are dense compute). */
const DENSE_KEY = coreKey(FULL_PLAN);
/** Group key of the full model's rows that decode speculatively (a skip core's have their own: speculativeGroupKey). */
const SPECULATIVE_KEY = speculativeGroupKey(DENSE_KEY);

export class Engine {
  private readonly scheduler: Scheduler<ParentRequest, CandidateRow>;
  private wakeUp: (() => void) | null = null;
  private lock: Promise<unknown> = Promise.resolve();
  private draining = false;
  private runnerFailure: Error | null = null;
  private readonly failureListeners: ((err: Error) => void)[] = [];
  private stopped = false;
  private readonly loopDone: Promise<void>;
  private readonly prefill: ChunkedPrefill;
  private readonly prefixCache: PrefixCache | null;
  /** Prompt embeddings by their tokens, kept with the prefix cache (a prompt seen again skips its embedding prefill). */
  private readonly embeddings: EmbeddingCache | null;
  /** Embeddings requests in flight (withEmbeddingSlot). */
  private embeddingRequests = 0;
  private readonly meter: SpeedupMeter | null;
  /** What every group's steps took since the start (a request's speedup compares against the load beside it). */
  private readonly ledger = new LoadLedger();
  /** The request each row belongs to. */
  private readonly owners = new WeakMap<CandidateRow, ParentRequest>();
  /** Speculative decoding, when configured and the runtime can drop positions. */
  private readonly speculative: SpeculativeConfig | null;
  /** Each finished request's end-to-end speedup (its counterfactual on the full model). */
  private readonly requestSpeedup: RequestSpeedup;
  /** Each skip core's speculative config (the draft on top of the core), one object per core; null when not speculating. */
  private readonly coreDrafts: CoreDrafts | null;
  /** Cores of requests that finished a moment ago, offered to policies that share a live core. */
  private readonly recentCores = new RecentCores();

  constructor(private readonly o: EngineOptions) {
    this.scheduler = new Scheduler(o.maxBatch, o.maxQueue);
    this.prefixCache = o.prefixCacheTokens ? new PrefixCache(o.runner, o.prefixCacheTokens) : null;
    this.embeddings = o.prefixCacheTokens ? new EmbeddingCache() : null;
    this.prefill = new ChunkedPrefill(o.runner, o.prefillChunk ?? 512, this.prefixCache);
    this.meter = o.measureSpeedup === false ? null : new SpeedupMeter(o.runner);
    this.speculative = o.speculative && o.speculative.tokens > 0 && o.runner.speculate ? o.speculative : null;
    this.coreDrafts = this.speculative ? new CoreDrafts(this.speculative) : null;
    this.requestSpeedup = new RequestSpeedup({
      ledger: this.ledger,
      meter: this.meter,
      speculates: this.speculative !== null,
      hasWork: (k) => this.scheduler.hasWork(k),
      ...(o.log?.debug ? { debug: (obj: object, msg: string) => o.log!.debug!(obj, msg) } : {}),
    });
    o.runner.onFailure?.((err) => {
      this.runnerFailure = err;
      this.o.log?.error({ err: err.message }, 'model runtime failed: requests in flight fail, new ones are refused until the model is replaced');
      this.wake();
      for (const cb of this.failureListeners.splice(0)) cb(err);
    });
    this.loopDone = this.loop();
  }

  /** Calls `cb` once when the runtime dies on its own (at once if it already has). */
  onFailure(cb: (err: Error) => void): void {
    if (this.runnerFailure) cb(this.runnerFailure);
    else this.failureListeners.push(cb);
  }

  /** Queues a prepared request: reserves a queue slot, lets its policy pick the plans, enqueues. */
  async submit(req: GenerationRequest): Promise<RequestHandle> {
    const arrivedAt = performance.now();
    const policy = req.policy;
    const refuse = (err: SkipserveError, outcome: Outcome): never => {
      this.o.stats.refused(policy.name, outcome);
      markCounted(err);
      throw err;
    };
    if (this.draining) refuse(new UnavailableError('the server is shutting down'), 'rejected');
    if (this.runnerFailure) refuse(this.unavailable(), 'rejected');
    const why = policy.unavailableReason();
    if (why) refuse(new PolicyUnavailableError(`policy '${policy.name}' is unavailable: ${why}`, 'policy'), 'invalid');
    if (!this.scheduler.tryReserve()) refuse(new QueueFullError(`the queue is full (${this.o.maxQueue} requests waiting); retry later`, this.retryAfterSeconds()), 'rejected');
    let parent: ParentRequest;
    try {
      let embedding: Promise<Float32Array> | null = null;
      let embedMs = 0;
      const embedPrompt = (): Promise<Float32Array> => {
        if (embedding) return embedding;
        const t0 = performance.now();
        return (embedding = this.embed(req.promptTokens).finally(() => (embedMs = performance.now() - t0)));
      };
      const chosen = await policy.choose({
        info: this.o.runner.info,
        n: req.n,
        seed: req.seed,
        promptTokens: req.promptTokens,
        promptText: req.promptText,
        options: req.policyOptions,
        embedPrompt,
        liveCores: () => this.liveCores(),
      });
      if (chosen.plans.length !== req.n) throw new SkipserveError(`policy '${policy.name}' returned ${chosen.plans.length} plans for n=${req.n}`);
      if (req.beam && new Set(chosen.plans.map(planKey)).size > 1) {
        throw new InvalidRequestError(`beam search compares its beams' log-probabilities, so every beam runs one plan; policy '${policy.name}' gave its candidates different plans (use a policy that shares one skip core, or none)`, 'policy');
      }
      parent = new ParentRequest(req, chosen.plans, chosen.detail, () => this.wake(), { arrivedAt, embedMs });
      if (this.speculative) {
        parent.loadAllowsSpeculation = this.speculationFitsLoad(req.n);
        if (parent.loadAllowsSpeculation && eligibleForSpeculation(req, chosen.plans)) parent.groupKey = speculativeGroupKey(parent.coreKey);
      }
    } catch (err) {
      this.scheduler.release();
      const e = asSkipserveError(err);
      refuse(e, isClientError(e) ? 'invalid' : 'error');
    }
    if (parent!.cancellation.reason) {
      this.scheduler.release();
      refuse(parent!.cancellation.reason, 'cancelled');
    }
    this.scheduler.enqueue(parent!);
    this.updateGauges();
    this.wake();
    return { plans: parent!.plans, events: parent!.events, result: parent!.result, echoedPrompt: () => parent!.echoedPrompt(), promptTokens: req.promptTokens.length };
  }

  /**
   * Start-up warm-up (before the first request): for each batch size, the speedup meter's probe
   * pool and first dense samples, then a request's path (prompt, forked candidates, sampled decode
   * steps; warmup.ts) under the core requests of that size will share, or the full model, whose
   * step times feed the meter. The first requests then neither build probe rows nor pay
   * onnxruntime's slower first runs, and report their speedup from measured ratios.
   */
  async warmUp(targets: readonly { batch: number; core: SkipPlan | null }[], context = 32, steps = 8): Promise<{ steps: number; ms: number }> {
    const t0 = performance.now();
    return this.exclusive(async () => {
      let ran = 0;
      const denseWarmed = new Set<number>();
      for (const t of targets) {
        const batch = Math.max(1, Math.min(t.batch, this.o.maxBatch));
        // As many dense samples as core ones (once per batch size): the first ratios are medians of both windows.
        if (this.meter && !denseWarmed.has(batch)) ran += await this.meter.warmDense(batch, context, steps);
        denseWarmed.add(batch);
        const plan = t.core ?? FULL_PLAN;
        const key = coreKey(plan);
        const speculative = this.speculative ? (key === DENSE_KEY ? this.speculative : this.coreDrafts!.config(key, plan)) : undefined;
        // A speculating core's verifications, each beside a dense probe of its shape: its first requests find their ratio measured.
        const meter = this.meter;
        const aroundCycle =
          meter && speculative && key !== DENSE_KEY
            ? async (cycle: () => Promise<CycleResult>, c: { sampled: boolean; first: boolean }) => {
                const probe = await meter.probeVerify(batch, speculative.tokens + 1, context, c.sampled ? 'all' : 'none', false);
                const out = await cycle();
                if (!c.first) meter.recordVerify(key, batch, probe.denseMs, out.verifyMs, out.graph);
                return out;
              }
            : undefined;
        for (const sample of await warmRequestPath(this.o.runner, { batch, plan, context, steps, speculative, aroundCycle })) this.meter?.observe(key, key === DENSE_KEY, batch, sample.ms, sample.graph);
        ran += steps;
      }
      return { steps: ran, ms: performance.now() - t0 };
    });
  }

  /** Rows decoding now (for /metrics and tests). */
  runningRows(): number {
    return this.scheduler.rowsInUse();
  }

  waitingRequests(): number {
    return this.scheduler.waitingCount();
  }

  /** True when a request arriving now would be refused with a full queue. */
  queueFull(): boolean {
    return this.scheduler.waitingCount() >= this.o.maxQueue && this.scheduler.rowsInUse() >= this.o.maxBatch;
  }

  /** Seconds a refused client should wait: about the time the running rows need to free a slot. */
  retryAfterSeconds(): number {
    return 1;
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
    await this.meter?.close();
    await this.prefixCache?.clear();
    this.updateGauges();
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  /**
   * Runs `fn` while no other runner call is in flight: the loop, prompt embeddings and tools that
   * score with the runner directly (teacher-forced calibration) share it.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => {});
    return run;
  }

  /**
   * Whether a request of n rows arriving now may speculate: the rows it would decode beside (running
   * and waiting, with its own, at most the batch) are within the speculative config's
   * disable_by_batch_size. Past it the steps are compute-bound and a cycle's k draft steps and
   * k + 1 verified positions per row cost more than the tokens they save (README, *Speculative
   * decoding*). Decided once, at arrival, so a request's rows either all speculate or none do.
   */
  private speculationFitsLoad(n: number): boolean {
    const limit = this.speculative?.disableByBatchSize;
    if (limit === undefined) return true;
    let rows = this.scheduler.rowsInUse() + n;
    for (const w of this.scheduler.waitingRequests()) rows += w.n;
    return Math.min(rows, this.o.maxBatch) <= limit;
  }

  /**
   * Skip cores of the running and waiting requests, with their candidate rows; and the cores of
   * requests that finished within the last second (recent-cores.ts), with their last request's rows.
   */
  liveCores(): LiveCore[] {
    const byKey = new Map<string, LiveCore>();
    for (const p of [...this.scheduler.runningRequests(), ...this.scheduler.waitingRequests()]) {
      const c = byKey.get(p.coreKey);
      if (c) c.rows += p.plans.length;
      else byKey.set(p.coreKey, { plan: p.core, rows: p.plans.length });
    }
    return [...byKey.values(), ...this.recentCores.recent(new Set(byKey.keys()))];
  }

  /**
   * Runs an embeddings request's `fn` in one of `maxQueue` slots: each of its prefills waits its turn
   * with the engine's steps, so unbounded embedding requests would stall generation. Past the
   * limit it refuses at once, as a full queue does.
   */
  async withEmbeddingSlot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.embeddingRequests >= this.o.maxQueue) throw new QueueFullError(`${this.o.maxQueue} embedding requests are in flight (the server's max queue); retry later`, this.retryAfterSeconds());
    this.embeddingRequests++;
    try {
      return await fn();
    } finally {
      this.embeddingRequests--;
    }
  }

  /**
   * Mean-pooled prompt embedding for policies and tools that need one: one extra prefill, of the
   * layers below the embedding only (the layers above it cannot change it, so they are skipped);
   * with the prefix cache on, a prompt embedded before is answered from the embedding cache.
   */
  embed(tokens: number[]): Promise<Float32Array> {
    if (this.draining) return Promise.reject(new UnavailableError('the server is shutting down'));
    if (this.runnerFailure) return Promise.reject(this.unavailable());
    const known = this.embeddings?.get(tokens);
    if (known) return Promise.resolve(known);
    return this.embedChunks(tokens);
  }

  /**
   * The embedding prefill in chunks of --prefill-chunk tokens, each its own turn with the engine's
   * steps (a long input does not stall the streams running): the mean over all tokens is the
   * chunks' means weighted by their lengths.
   */
  private async embedChunks(tokens: number[]): Promise<Float32Array> {
    const runner = this.o.runner;
    const chunk = this.o.prefillChunk ?? 512;
    const seq = await this.exclusive(() => runner.createSeq());
    let sum: Float64Array | null = null;
    try {
      for (let at = 0; at < tokens.length; at += chunk) {
        const part = tokens.slice(at, at + chunk);
        const e = await this.exclusive(async () => {
          const t0 = performance.now();
          try {
            return (await runner.step([{ seq, tokens: part, plan: embeddingPlan(runner.info), logits: 'none', embed: true }])).embeddings[0];
          } finally {
            this.ledger.embedded(performance.now() - t0);
          }
        });
        if (!e) throw new SkipserveError('the runtime returned no prompt embedding');
        sum ??= new Float64Array(e.length);
        for (let i = 0; i < e.length; i++) sum[i]! += e[i]! * part.length;
      }
    } finally {
      await this.exclusive(() => runner.freeSeq(seq));
    }
    const mean = Float32Array.from(sum!, (x) => x / tokens.length);
    this.embeddings?.set(tokens, mean);
    return mean;
  }

  /** The error requests get while the runtime is dead: retry shortly (the server replaces the model). */
  private unavailable(): UnavailableError {
    return new UnavailableError(`the model runtime stopped (${this.runnerFailure?.message}); the model is being restarted, retry shortly`);
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.runnerFailure) for (const p of [...this.scheduler.runningRequests(), ...this.scheduler.waitingRequests()]) this.failParent(p, this.unavailable(), 'error');
        this.reap();
        const admitted = this.scheduler.admit();
        if (admitted.length) await this.exclusive(() => this.admit(admitted));
        if (this.prefill.pending()) await this.exclusive(() => this.prefillStep());
        this.reap();
        const group = this.scheduler.nextGroup();
        if (group) await this.exclusive(() => this.turn(group.key, group.rows));
        this.updateGauges();
        if (this.scheduler.idle() && !this.stopped) await new Promise<void>((r) => (this.wakeUp = r));
      } catch (err) {
        if (!this.runnerFailure) this.o.log?.error({ err }, 'engine step failed');
        for (const p of this.scheduler.runningRequests()) this.failParent(p, this.runnerFailure ? this.unavailable() : asSkipserveError(err), 'error');
      }
    }
  }

  /** Drops cancelled or expired requests and frees their rows. */
  private reap(): void {
    for (const p of [...this.scheduler.runningRequests(), ...this.scheduler.waitingRequests()]) {
      const reason = p.cancellation.reason;
      if (reason) this.failParent(p, reason, reason.kind === 'deadline' ? 'deadline' : 'cancelled');
    }
  }

  private failParent(p: ParentRequest, err: SkipserveError, outcome: Outcome): void {
    this.scheduler.remove(p);
    this.prefill.drop(p);
    for (const r of p.rows) if (!r.finished) void this.o.runner.freeSeq(r.seq);
    p.fail(err);
    markCounted(err);
    this.o.stats.failed(p, outcome);
    this.updateGauges();
  }

  /** Starts the prefill of newly admitted requests. */
  private async admit(admitted: ParentRequest[]): Promise<void> {
    const now = performance.now();
    for (const p of admitted) {
      p.admittedAt = now;
      p.ledgerAtAdmit = this.ledger.snapshot();
      this.o.stats.admitted(p, now);
      await this.prefill.start(p);
    }
  }

  /** One chunked-prefill step; each prompt completed by it forks its candidates and samples their first tokens. */
  private async prefillStep(): Promise<void> {
    const { runner, tokenizer } = this.o;
    const { done, runMs, fed } = await this.prefill.step();
    this.ledger.prefilled(fed.map((f) => ({ key: f.p.coreKey, tokens: f.tokens })), runMs);
    const tokens = fed.reduce((sum, f) => sum + f.tokens, 0) || 1;
    for (const { p, tokens: mine } of fed) {
      const ms = (runMs * mine) / tokens;
      p.prefilledShare(ms, p.coreKey === DENSE_KEY || !this.meter ? ms : this.meter.prefillDenseEquivalentMs(p.coreKey, fed.length, ms, mine));
    }
    for (const p of done) {
      if (p.done || p.cancellation.reason) continue; // reaped at the next step
      this.o.stats.prefilled(p);
      const r = p.req;
      const eos = [...new Set([...(r.ignoreEos ? [] : runner.info.eosTokenIds), ...(r.stopTokenIds ?? [])])];
      const minTokens = r.minTokens ? { minTokens: r.minTokens } : {};
      const specs: SamplerSpec[] = p.plans.map((_, c) => ({ ...r.sampling, seed: r.seed + c, topLogprobs: r.logprobs ? r.topLogprobs : 0, stopTokenIds: eos, ...minTokens }));
      if (r.maxTokens === 0) {
        // Echo that only scores the prompt: n empty candidates, nothing drawn or decoded.
        await this.releasePrompt(p);
        p.rows = specs.map((spec, c) => new CandidateRow(c, -1, p.plans[c]!, spec, tokenizer, r.promptTokens, { maxTokens: 0, eosTokenIds: eos, stop: r.stop, topLogprobs: -1 }));
        for (const row of p.rows) p.events.push(row.finish('length'));
        this.completeParent(p);
        continue;
      }
      if (r.beam) {
        await this.startBeams(p, eos);
        continue;
      }
      // One prefill, n children: the runtime copies the prompt's KV and draws each child's first token.
      const { seqs, sampled } = await runner.forkSampled(p.promptSeq!, specs);
      await this.releasePrompt(p);
      const limits = rowLimits(r, eos);
      p.rows = seqs.map((s, c) => new CandidateRow(c, s, p.plans[c]!, specs[c]!, tokenizer, r.promptTokens, limits));
      for (const row of p.rows) this.owners.set(row, p);
      p.rows.forEach((row, c) => this.accept(p, row, sampled[c]!));
    }
  }

  /** A beam search's first step: the prompt's one beam, whose most likely tokens start the beams. */
  private async startBeams(p: ParentRequest, eos: number[]): Promise<void> {
    const r = p.req;
    const spec: SamplerSpec = { temperature: 0, topP: 1, topK: 0, seed: r.seed, topLogprobs: beamTopK(r.n, eos.length, r.logprobs ? r.topLogprobs : 0), stopTokenIds: eos };
    const { seqs, sampled } = await this.o.runner.forkSampled(p.promptSeq!, [spec]);
    await this.releasePrompt(p);
    const limits = rowLimits(r, eos);
    const root = new CandidateRow(0, seqs[0]!, p.plans[0]!, spec, this.o.tokenizer, r.promptTokens, limits);
    this.owners.set(root, p);
    p.rows = [root];
    p.beam = new BeamSearch({ width: r.n, lengthPenalty: r.beam!.lengthPenalty, promptLength: r.promptTokens.length, maxTokens: r.maxTokens, eos, minTokens: r.minTokens ?? 0, topLogprobs: limits.topLogprobs });
    await this.advanceBeams(p, [root], sampled);
  }

  /** Moves a beam search on by the step its live beams took; streams and completes it when it is over. */
  private async advanceBeams(p: ParentRequest, live: CandidateRow[], sampled: SampledToken[]): Promise<void> {
    const now = performance.now();
    for (const row of live) this.o.stats.produced(p, row, 1, now);
    const next = await p.beam!.step(this.o.runner, live, sampled);
    for (const row of next) this.owners.set(row, p);
    if (next.length) {
      p.rows = next;
      return;
    }
    // Beams change until the end, so the text comes at once: the returned beams, best first.
    p.rows = p.beam!.finished();
    for (const row of p.rows.slice(0, p.req.returnN)) p.events.push({ index: row.index, text: row.text, tokenIds: row.tokenIds, logprobs: row.logprobs, finishReason: row.finishReason ?? 'stop' });
    this.completeParent(p);
  }

  /** One turn of a scheduler group: a speculative group's cycle, or a decode step of the full model or a skip core. */
  private async turn(key: string, rows: CandidateRow[]): Promise<void> {
    if (coreOfSpeculativeGroup(key) !== null) await this.speculate(key, rows);
    else await this.decode(key, rows);
  }

  /** Hands a prefilled prompt's sequence to the prefix cache (or frees it). */
  private async releasePrompt(p: ParentRequest): Promise<void> {
    const seq = p.promptSeq!;
    p.promptSeq = null;
    if (this.prefixCache) await this.prefixCache.retain(p.prefillKey, p.req.promptTokens, seq);
    else await this.o.runner.freeSeq(seq);
  }

  /** Positions the prefix cache holds now (0 when it is off). */
  prefixCacheTokens(): number {
    return this.prefixCache?.tokens() ?? 0;
  }

  /** Dense / core step-time ratio of a group (1 for the dense group, or without a meter). */
  private denseRatio(key: string, batch: number): number {
    return key === DENSE_KEY || !this.meter ? 1 : this.meter.ratio(key, batch);
  }

  /** One decode step for a group of rows sharing a skip core (after a dense probe when one is due). */
  private async decode(key: string, group: CandidateRow[]): Promise<void> {
    const t0 = performance.now();
    const owners = group.map((r) => this.owners.get(r)!);
    const probing = this.meter !== null && key !== DENSE_KEY && this.meter.needsProbe(key, group.length);
    // Each request's rows' summed context (tokens in their KV) before the step: the dense equivalent of a shared step depends on it.
    const contextOf = new Map<ParentRequest, number>();
    group.forEach((r, i) => contextOf.set(owners[i]!, (contextOf.get(owners[i]!) ?? 0) + this.o.runner.seqLength(r.seq)));
    const context = Math.round([...contextOf.values()].reduce((s, c) => s + c, 0) / group.length);
    const probe = probing ? await this.meter!.probe(group.length, context) : null;
    const rowsOf = new Map<ParentRequest, number>();
    for (const p of owners) rowsOf.set(p, (rowsOf.get(p) ?? 0) + 1);
    // A step shared by requests of the core gives each its dense equivalent at its own rows
    // (below), from the dense window of that batch size: keep it fresh as the group-size one is
    // (with only skip-core traffic nothing else feeds it, and a window from start-up read the
    // machine's speed of then).
    const own = !probe && this.meter !== null && key !== DENSE_KEY ? this.ownRowsProbe(rowsOf, contextOf) : null;
    const ownProbe = own ? await this.meter!.probe(own.rows, own.context) : null;
    if (own && ownProbe) this.meter!.recordDense(own.rows, { ms: ownProbe.denseMs, graph: ownProbe.graph, context: ownProbe.context });
    const rows: StepRow[] = group.map((r) => ({ seq: r.seq, tokens: [r.lastToken], plan: r.plan, logits: 'none', sample: r.spec }));
    // The full model's group beside this step (the speedup's counterfactual merges the rows into it).
    const denseRows = key === DENSE_KEY ? 0 : this.scheduler.rowsOf(DENSE_KEY);
    const out = await this.o.runner.step(rows);
    if (probe) this.meter!.record(key, group.length, { ms: probe.denseMs, graph: probe.graph, context: probe.context }, { ms: out.runMs, graph: out.graphs?.[0], context });
    else this.meter?.observe(key, key === DENSE_KEY, group.length, out.runMs, out.graphs?.[0], context);
    this.scheduler.charge(key, out.runMs, group.length);
    const probeSpent = (probe?.spentMs ?? 0) + (ownProbe?.spentMs ?? 0);
    this.o.stats.stepped(group.length, out.graphs?.[0], out.buildMs, probeSpent);
    const waited = probeSpent + (out.buildMs ?? 0);
    if (waited > 0) this.ledger.probed(key, waited, probe || ownProbe ? 1 : 0);
    const ratio = this.denseRatio(key, group.length);
    const shared = rowsOf.size > 1;
    for (const [p, mine] of rowsOf) {
      // Probes and core-graph builds: time the request spent that the full model would not have.
      p.probeMs += waited;
      // On the full model the request leaves the rows it shared this step with: its step is a dense
      // step of its own rows (the step's dense equivalent at all rows read 1.9x for requests that
      // measured 0.67x beside seven requests of the same core), and the sharers keep their own
      // time (full-model-wall.ts).
      const denseMs = shared ? (this.meter?.denseMeanMs(mine, contextOf.get(p)! / mine) ?? (out.runMs * ratio * mine) / group.length) : key === DENSE_KEY || !this.meter ? out.runMs : this.meter.denseEquivalentMs(key, group.length, out.runMs);
      p.decodedStep({ rows: mine, denseMs, shared, denseRowsBeside: denseRows });
    }
    const beams = new Map<ParentRequest, { rows: CandidateRow[]; sampled: SampledToken[] }>();
    for (const [i, row] of group.entries()) {
      const p = owners[i]!;
      if (p.done || p.cancellation.reason || row.finished) continue;
      if (!p.beam) this.accept(p, row, out.sampled![i]!);
      else {
        const b = beams.get(p) ?? beams.set(p, { rows: [], sampled: [] }).get(p)!;
        b.rows.push(row);
        b.sampled.push(out.sampled![i]!);
      }
    }
    for (const [p, b] of beams) await this.advanceBeams(p, b.rows, b.sampled);
    const around = Math.max(0, performance.now() - t0 - waited - out.runMs);
    this.ledger.decoded(key, key === DENSE_KEY, group.length, out.runMs, around);
    if (!shared && denseRows === 0) owners[0]!.aroundSoloStep(around);
  }

  /**
   * One speculative cycle of a group's rows (model/speculative-cycle.ts, in the runtime): drafts
   * under the draft plan (on top of the group's skip core), one verification under each row's own
   * plan, then each row takes the tokens its plan chose. A request's speedup counts the cycle
   * against the same cycle on the full model, which speculates as well: its draft alike (on the
   * default model the cores' sublayers lie inside the draft's skipped layers) and its verification
   * at the speedup meter's dense / core ratio of a verification of this many rows (probe pairs of
   * that shape). A full-model group's cycle is its own counterfactual.
   */
  private async speculate(key: string, group: CandidateRow[]): Promise<void> {
    const { runner } = this.o;
    const dense = key === SPECULATIVE_KEY;
    const owners = group.map((r) => this.owners.get(r)!);
    const { core, coreKey: ck } = owners[0]!;
    const cfg = dense ? this.speculative! : this.coreDrafts!.config(ck, core);
    const rows = group.map((r, i) => ({
      seq: r.seq,
      last: r.lastToken,
      spec: r.spec,
      plan: r.plan,
      // Room for every drafted token and its plan's own after them, under max_tokens and the context.
      maxDraft: Math.max(0, Math.min(cfg.tokens, owners[i]!.req.maxTokens - r.tokenIds.length - 1, runner.info.maxPositions - runner.seqLength(r.seq) - 3)),
    }));
    const context = Math.round(rows.reduce((s, r) => s + runner.seqLength(r.seq), 0) / rows.length);
    // A skip core's verification is timed beside a dense probe of its shape when one is due.
    const probe = !dense && this.meter?.needsVerifyProbe(ck, group.length) ? await this.meter.probeVerify(group.length, cfg.tokens + 1, context, group.some((r) => r.spec.temperature > 0) ? 'all' : 'none') : null;
    if (probe) {
      this.ledger.probed(ck, probe.spentMs, 1);
      for (const p of new Set(owners)) p.probeMs += probe.spentMs;
    }
    const tc = performance.now();
    const out = await runner.speculate!(rows, cfg);
    const cycleMs = performance.now() - tc;
    this.meter?.ran(out.runMs);
    if (probe) this.meter!.recordVerify(ck, group.length, probe.denseMs, out.verifyMs, out.graph);
    this.scheduler.charge(key, out.runMs, group.length);
    this.o.stats.stepped(group.length, out.graph, out.buildMs, probe?.spentMs ?? 0);
    this.o.stats.speculated(out.drafted.reduce((s, x) => s + x, 0), out.accepted.reduce((s, x) => s + x, 0));
    // The same cycle on the full model: the verification at the measured ratio, the draft (no
    // larger than the core's where the core skips sublayers the draft runs) at draftRatio.
    let fullMs = cycleMs;
    // A core graph built in the cycle (the draft's or the verification's, on the core's first use):
    // time the request waited that the full model, whose graphs are built, would not have.
    const buildMs = dense ? 0 : (out.buildMs ?? 0);
    if (buildMs > 0) {
      fullMs -= buildMs;
      this.ledger.probed(ck, buildMs, 0);
    }
    if (!dense && this.meter) {
      const verify = this.meter.verifyRatio(ck, group.length);
      fullMs += out.verifyMs * (verify - 1) + (out.runMs - out.verifyMs) * (draftRatio(this.speculative!.draft, core, runner.info, verify) - 1);
    }
    for (const p of new Set(owners)) {
      p.speculated.cycles++;
      p.speculated.ms += cycleMs;
      p.speculated.denseMs += fullMs;
    }
    // In the load ledger as its core's work; its time around the runs (k + 1 of them) is no plain step's.
    this.ledger.decoded(ck, dense, group.length, out.runMs, Math.max(0, cycleMs - out.runMs), false);
    for (const [i, row] of group.entries()) {
      const p = owners[i]!;
      for (const token of out.tokens[i]!) {
        if (p.done || p.cancellation.reason || row.finished) break;
        this.accept(p, row, token);
      }
    }
  }

  /** In a step shared by several requests, a request's row count whose dense window is due for a probe (and its rows' mean context), or null. */
  private ownRowsProbe(rowsOf: Map<ParentRequest, number>, contextOf: Map<ParentRequest, number>): { rows: number; context: number } | null {
    if (rowsOf.size < 2) return null;
    for (const [p, rows] of rowsOf) if (this.meter!.needsProbe('', rows)) return { rows, context: Math.round(contextOf.get(p)! / rows) };
    return null;
  }

  /** Takes one row's next token, streams it and finishes the row (and the request) when done. */
  private accept(p: ParentRequest, row: CandidateRow, token: SampledToken): void {
    const { runner } = this.o;
    const delta = row.accept(token);
    if (delta.tokenIds.length) this.o.stats.produced(p, row, delta.tokenIds.length, performance.now());
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
    this.scheduler.remove(p);
    if (p.coreKey !== DENSE_KEY) this.recentCores.finished(p.coreKey, p.core, p.n);
    const info = this.o.runner.info;
    const result = p.complete(info, planCost(p.core, info).removedFraction, this.requestSpeedup.of(p));
    this.o.stats.completed(p, result);
    this.updateGauges();
  }

  private updateGauges(): void {
    this.o.stats.gauges(this.scheduler.rowsInUse(), this.scheduler.waitingCount(), this.prefixCacheTokens());
  }
}

/** What ends a request's rows and what they report (stop rules, max_tokens, alternatives). */
function rowLimits(r: GenerationRequest, eos: readonly number[]): RowLimits {
  return { maxTokens: r.maxTokens, eosTokenIds: eos, stop: r.stop, topLogprobs: r.logprobs ? r.topLogprobs : -1, ...(r.minTokens ? { minTokens: r.minTokens } : {}), includeStop: r.includeStopStr ?? false, ...(r.keepSpecialTokens ? { keepSpecialTokens: true } : {}) };
}

/** The plan of an embedding prefill: every sublayer above the embedding layer skipped. */
export function embeddingPlan(info: Pick<ModelInfo, 'numLayers' | 'embedLayer'>): SkipPlan {
  const from = info.embedLayer ?? Math.floor(info.numLayers / 2);
  const above = Array.from({ length: Math.max(0, info.numLayers - from) }, (_, i) => from + i);
  return above.length ? { skipAttention: above, skipMlp: [...above], maskHeads: {} } : FULL_PLAN;
}
