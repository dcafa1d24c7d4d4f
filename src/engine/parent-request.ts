/**
 * A parent request inside the engine: its plans and skip core, its child rows once admitted, its
 * stream of deltas, its timings (for the metrics and the speedup) and the promise of its result.
 */
import { coreKey, planKey, skipCore, type SkipPlan } from '../plans/plan.ts';
import type { SkipserveError } from '../errors.ts';
import { summarize } from './best-of-n.ts';
import type { BeamSearch } from './beam-search.ts';
import type { CandidateRow } from './candidate-row.ts';
import { Cancellation } from './cancellation.ts';
import { EventQueue } from './event-queue.ts';
import { emptyOwnSteps, type OwnSteps } from './full-model-wall.ts';
import type { LedgerSnapshot } from './load-ledger.ts';
import type { CandidateDelta, EchoedPrompt, GenerationRequest, GenerationResult, TokenLogprob } from './types.ts';

let nextId = 1;

export class ParentRequest {
  readonly id = nextId++;
  /** What every candidate's plan shares: the sublayers they all skip and the heads they all mask; the prompt is prefilled under it. */
  readonly core: SkipPlan;
  /** The key of the core's sublayers (head masks excluded): rows with equal keys batch together. */
  readonly coreKey: string;
  /** The key of the whole core, shared head masks included: the prompt's keys and values depend on all of it (the prefix cache's key). */
  readonly prefillKey: string;
  readonly n: number;
  /** Admission priority (lower first). */
  readonly priority: number;
  rows: CandidateRow[] = [];
  /** Its group's key when its rows decode speculatively (speculation.ts), else undefined (its core's group). */
  groupKey: string | undefined = undefined;
  /** False when the load at its arrival was over the speculative config's disable_by_batch_size: neither it nor the same request on the full model would speculate. */
  loadAllowsSpeculation = true;
  /** Its speculative cycles: how many, their wall time, and that of the same cycles on the full model (ms). */
  readonly speculated = { cycles: 0, ms: 0, denseMs: 0 };
  /** Its beam search, once started when it asks for one (its rows are then the live beams). */
  beam: BeamSearch | null = null;

  /** A beam search holds its n rows while it runs: beams that end are replaced by the next step's (Scheduler). */
  get holdsAllRows(): boolean {
    return !!this.req.beam;
  }
  readonly events = new EventQueue<CandidateDelta>();
  readonly result: Promise<GenerationResult>;
  readonly cancellation: Cancellation;
  /** performance.now() at arrival (submit, before its policy chose plans), admission and first token. */
  readonly arrivedAt: number;
  admittedAt: number | null = null;
  /** The prompt's sequence while it is being prefilled (forked into the rows, then freed). */
  promptSeq: number | null = null;
  /** Prompt tokens fed so far (or copied from the prefix cache). */
  prefilled = 0;
  /** Prompt tokens copied from the prefix cache instead of fed. */
  cachedTokens = 0;
  /** With echo and logprobs: each prompt token's log-probability given those before it (null for the first). */
  readonly promptScores: (TokenLogprob | null)[];
  firstTokenAt: number | null = null;
  /** Time its steps waited for dense probes and core-graph builds (ms). */
  probeMs = 0;
  /** The engine's load ledger when it was admitted, and its own steps since (for the full-model counterfactual). */
  ledgerAtAdmit: LedgerSnapshot | null = null;
  readonly own: OwnSteps = emptyOwnSteps();
  /** Time its policy spent on a prompt embedding before it was queued (the full model spends none). */
  readonly embedMs: number;
  done = false;
  private resolveResult!: (r: GenerationResult) => void;
  private rejectResult!: (e: unknown) => void;

  constructor(
    readonly req: GenerationRequest,
    readonly plans: SkipPlan[],
    readonly policyDetail: Record<string, unknown> | undefined,
    onCancel: () => void,
    timing: { arrivedAt: number; embedMs: number } = { arrivedAt: performance.now(), embedMs: 0 },
  ) {
    this.arrivedAt = timing.arrivedAt;
    this.embedMs = timing.embedMs;
    this.n = req.n;
    this.priority = req.priority ?? 0;
    this.promptScores = req.promptLogprobs === null ? [] : req.promptTokens.map(() => null);
    this.core = skipCore(plans);
    this.coreKey = coreKey(this.core);
    this.prefillKey = planKey(this.core);
    this.result = new Promise((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    // The API may only read the events; never let an unread rejection crash the process.
    this.result.catch(() => {});
    this.cancellation = new Cancellation(req.signal, req.deadline, onCancel);
  }

  /** With echo, the prompt to return (its scores are complete once it is prefilled, before the first delta); else undefined. */
  echoedPrompt(): EchoedPrompt | undefined {
    if (!this.req.echo) return undefined;
    return { text: this.req.promptText, tokenIds: this.req.promptTokens, logprobs: this.req.promptLogprobs === null ? null : this.promptScores };
  }

  /** The policy label of this request's metrics. */
  get policyName(): string {
    return this.req.policy.name;
  }

  /** Its share of a prefill step (ms) and that share's dense equivalent (the same on the full model). */
  prefilledShare(ms: number, denseMs: number): void {
    this.own.prefillMs += ms;
    this.own.prefillDenseMs += denseMs;
    this.own.prefillSteps++;
  }

  /** A decode step it took part in: its rows, their dense-equivalent time, whether other requests shared the step, the full model's rows beside it. */
  decodedStep(s: { rows: number; denseMs: number; shared: boolean; denseRowsBeside: number }): void {
    const o = this.own;
    o.decodeSteps++;
    o.decodeRows += s.rows;
    o.decodeDenseMs += s.denseMs;
    if (s.shared) o.sharedSteps++;
    if (s.denseRowsBeside > 0) {
      o.denseSteps++;
      o.denseRows += s.denseRowsBeside;
    }
    if (!s.shared && s.denseRowsBeside === 0) o.soloSteps++;
  }

  /** The engine's time around a solo decode step of its rows (its own, nothing else in the step or beside it), known once the step is done. */
  aroundSoloStep(ms: number): void {
    this.own.soloAroundMs += ms;
    this.own.soloAroundSteps++;
  }

  /** Tokens of its longest candidate (0 before any). */
  longestTokens(): number {
    return Math.max(0, ...this.rows.map((r) => r.tokenIds.length));
  }

  /** True when every row has finished. */
  allFinished(): boolean {
    return this.rows.length > 0 && this.rows.every((r) => r.finished);
  }

  /** Builds the result (answers, vote, diversity, timings; the speedup the engine measured) and ends the stream. */
  complete(shape: { numLayers: number; numHeads: number }, skippedComputeRatio: number, speedup: number | null): GenerationResult {
    this.done = true;
    this.cancellation.dispose();
    const now = performance.now();
    const cands = this.rows.map((r) => ({ text: r.text, tokenIds: r.tokenIds, meanLogprob: r.meanLogprob, plan: r.plan }));
    const s = summarize(cands, this.req.select, shape, this.req.answerPattern, this.req.returnN);
    const ref = this.req.referenceAnswer;
    const result: GenerationResult = {
      candidates: this.rows.map((r, i) => ({
        index: r.index,
        text: r.text,
        tokenIds: r.tokenIds,
        finishReason: r.finishReason ?? 'stop',
        plan: r.plan,
        answer: s.answers[i]!,
        meanLogprob: r.meanLogprob,
        logprobs: r.logprobs,
      })),
      selectedIndex: s.selectedIndex,
      // Beams come best first already; sampled candidates are ranked under the request's select rule.
      ...(this.beam ? (this.req.returnN < this.rows.length ? { returned: this.rows.slice(0, this.req.returnN).map((_, i) => i) } : {}) : s.returned ? { returned: s.returned } : {}),
      policy: this.policyName,
      arm: this.req.arm,
      policyDetail: this.policyDetail,
      speedup,
      skippedComputeRatio,
      diversity: s.diversity,
      promptTokens: this.req.promptTokens.length,
      cachedTokens: this.cachedTokens,
      completionTokens: this.rows.reduce((sum, r) => sum + r.tokenIds.length, 0),
      timings: {
        queueMs: (this.admittedAt ?? now) - this.arrivedAt,
        firstTokenMs: this.firstTokenAt === null ? null : this.firstTokenAt - this.arrivedAt,
        totalMs: now - this.arrivedAt,
      },
    };
    const echoed = this.echoedPrompt();
    if (echoed) result.prompt = echoed;
    if (this.req.returnPromptLogprobs) result.promptLogprobs = { tokenIds: this.req.promptTokens, logprobs: this.promptScores };
    if (ref !== undefined) {
      result.referenceAnswer = ref;
      result.matchedReference = s.selectedIndex !== null && s.answers[s.selectedIndex] === ref;
    }
    this.events.end();
    this.resolveResult(result);
    return result;
  }

  /** Fails the request (cancelled, deadline, runtime error) and ends the stream with the error. */
  fail(err: SkipserveError): void {
    if (this.done) return;
    this.done = true;
    this.cancellation.dispose();
    for (const r of this.rows) r.finished = true;
    this.events.end(err);
    this.rejectResult(err);
  }
}
