/**
 * One candidate row of a best-of-N request: its sequence, plan and sampler spec (the runtime draws
 * its tokens in the model worker, seeded with seed + index), and what it has produced. `accept`
 * takes the token drawn for its newest position, detokenizes, applies stop rules and says whether
 * the row is done. No I/O: the engine streams the returned delta.
 */
import type { SampledToken, SamplerSpec, SeqId } from '../model/runner-types.ts';
import type { SkipPlan } from '../plans/plan.ts';
import { StopChecker } from '../sampling/stop.ts';
import { IncrementalDetokenizer } from '../text/detokenizer.ts';
import type { CandidateDelta, FinishReason, TextTokenizer, TokenLogprob } from './types.ts';

export interface RowLimits {
  maxTokens: number;
  eosTokenIds: readonly number[];
  stop: readonly string[];
  /** Alternatives to report per token; -1 = no logprobs at all. */
  topLogprobs: number;
  /** vLLM's min_tokens: stop strings end the text only from this many tokens on (the runtime draws no stop token before). */
  minTokens?: number;
  /** vLLM's include_stop_str_in_output: the stop string that ends the text stays in it. */
  includeStop?: boolean;
  /** vLLM's skip_special_tokens false: special tokens' text stays in the text. */
  keepSpecialTokens?: boolean;
}

export class CandidateRow {
  finished = false;
  finishReason: FinishReason | null = null;
  /** The token to feed at the next decode step. */
  lastToken = -1;
  tokenIds: number[] = [];
  logprobs: TokenLogprob[] = [];
  private logprobSum = 0;
  private detok: IncrementalDetokenizer;
  private stopper: StopChecker;
  /** Time the previous token was produced (ms, performance.now()). */
  lastTokenAt = 0;

  constructor(
    /** Its place among the request's candidates (a beam's changes as beams are ranked). */
    public index: number,
    /** Its sequence in the runtime (-1: none, e.g. a finished beam). */
    public seq: SeqId,
    readonly plan: SkipPlan,
    /** How the runtime samples this row (seed + index, the request's sampling, its stop ids and alternatives). */
    readonly spec: SamplerSpec,
    tokenizer: TextTokenizer,
    promptTokens: readonly number[],
    private readonly limits: RowLimits,
  ) {
    this.detok = new IncrementalDetokenizer(limits.keepSpecialTokens ? { decode: (ids) => tokenizer.decodeWithSpecial(ids) } : tokenizer, [...promptTokens]);
    this.stopper = new StopChecker(limits.stop, limits.includeStop);
  }

  /** A copy of this row on sequence `seq` (a beam that continues in two ways): same tokens, text and stop state. */
  fork(seq: SeqId): CandidateRow {
    const c = Object.assign(Object.create(CandidateRow.prototype) as CandidateRow, this);
    c.seq = seq;
    c.tokenIds = this.tokenIds.slice();
    c.logprobs = this.logprobs.slice();
    c.detok = this.detok.clone();
    c.stopper = this.stopper.clone();
    return c;
  }

  /** Sum of its tokens' log-probabilities (a beam's score before the length penalty). */
  get logprobTotal(): number {
    return this.logprobSum;
  }

  /** Takes the runtime's next token for this row; returns the delta to stream (finishReason set when done). */
  accept(s: SampledToken): CandidateDelta {
    const { token, logprob } = s;
    if (this.limits.eosTokenIds.includes(token)) return this.finish('stop');
    this.tokenIds.push(token);
    this.logprobSum += logprob;
    const lp: TokenLogprob[] = [];
    if (this.limits.topLogprobs >= 0) {
      const entry = { token, logprob, top: s.top };
      this.logprobs.push(entry);
      lp.push(entry);
    }
    const pushed = this.stopper.push(this.detok.push(token), this.tokenIds.length >= (this.limits.minTokens ?? 0));
    const delta: CandidateDelta = { index: this.index, text: pushed.emit, tokenIds: [token], logprobs: lp };
    if (pushed.stopped) return this.merge(delta, this.finish('stop'));
    if (this.tokenIds.length >= this.limits.maxTokens) return this.merge(delta, this.finish('length'));
    this.lastToken = token;
    return delta;
  }

  /** Ends the row (stop, length or cancelled) and returns the held-back text as the last delta. */
  finish(reason: FinishReason): CandidateDelta {
    this.finished = true;
    this.finishReason = reason;
    const tail = this.stopper.stopped ? '' : this.stopper.push(this.detok.flush()).emit + this.stopper.flush();
    return { index: this.index, text: tail, tokenIds: [], logprobs: [], finishReason: reason };
  }

  /** The completion text (cut before a stop string, or after it with `includeStop`). */
  get text(): string {
    return this.stopper.fullText;
  }

  /** Mean log-probability of the generated tokens (the selection score). */
  get meanLogprob(): number {
    return this.tokenIds.length ? this.logprobSum / this.tokenIds.length : -Infinity;
  }

  private merge(a: CandidateDelta, b: CandidateDelta): CandidateDelta {
    return { index: a.index, text: a.text + b.text, tokenIds: [...a.tokenIds, ...b.tokenIds], logprobs: [...a.logprobs, ...b.logprobs], finishReason: b.finishReason };
  }
}
