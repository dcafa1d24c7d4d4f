/**
 * Beam search (vLLM's use_beam_search, Hugging Face's num_beams): a request's `width` rows are its
 * beams. After each step every live beam offers its 2·width most likely next tokens (the model's
 * own log-probabilities, read from the runtime's top-logprob list; beamTopK); an end-of-sequence token ends
 * a beam, the others compete, and the `width` best by score continue: a beam chosen twice is
 * forked (its KV copied), one not chosen is freed. A beam's score is its summed log-probability
 * over its length (prompt and output, end-of-sequence not counted) to the power `lengthPenalty`,
 * vLLM's rule. Beams that end (end of sequence, a stop string, max_tokens, the context) are kept,
 * the best `width`; the search stops when no beam is live or when no live beam can still beat the
 * worst of `width` ended ones (a continuation only adds log-probabilities <= 0, so the bound is
 * exact: the same beams as running to max_tokens, as vLLM does, sooner).
 */
import type { SampledToken, SeqId } from '../model/runner-types.ts';
import type { CandidateRow } from './candidate-row.ts';

/** What beam search needs from the runtime. */
export interface BeamRuntime {
  forkSeq(src: SeqId, count: number): Promise<SeqId[]>;
  freeSeq(seq: SeqId): Promise<void>;
  seqLength(seq: SeqId): number;
  readonly info: { readonly maxPositions: number };
}

export interface BeamOptions {
  width: number;
  lengthPenalty: number;
  promptLength: number;
  maxTokens: number;
  /** Tokens that end a beam (end of sequence and stop_token_ids; none with ignore_eos). */
  eos: readonly number[];
  /** Generated tokens before an end-of-sequence token may end a beam. */
  minTokens: number;
  /** Alternatives each token reports (-1: no logprobs). */
  topLogprobs: number;
}

/** vLLM's beam score: summed log-probability over length ** lengthPenalty. */
export function beamScore(logprobSum: number, length: number, lengthPenalty: number): number {
  return logprobSum / length ** lengthPenalty;
}

/**
 * The alternatives each live beam reports: vLLM's twice the width, plus one per token that ends a
 * beam, so that at least 2·width of them continue even where ending tokens are not yet allowed
 * (min_tokens) or crowd the top (many stop_token_ids); and as many as the request's logprobs show.
 */
export function beamTopK(width: number, endingTokens: number, topLogprobs: number): number {
  return Math.max(2 * width + endingTokens, topLogprobs);
}

interface Ended {
  row: CandidateRow;
  score: number;
}

interface Continuation {
  from: number;
  token: SampledToken;
  score: number;
}

export class BeamSearch {
  private ended: Ended[] = [];

  constructor(private readonly o: BeamOptions) {}

  /**
   * One step: `live[i]` drew `sampled[i]` (its top list is what counts). Returns the beams that go
   * on (their next token set, ready to decode), having forked and freed sequences as needed; an
   * empty list means the search is over and `finished()` holds the result.
   */
  async step(runtime: BeamRuntime, live: readonly CandidateRow[], sampled: readonly SampledToken[]): Promise<CandidateRow[]> {
    const { width, lengthPenalty, promptLength, eos, minTokens } = this.o;
    const next: Continuation[] = [];
    live.forEach((row, i) => {
      const generated = row.tokenIds.length;
      for (const alt of sampled[i]!.top) {
        const sum = row.logprobTotal + alt.logprob;
        const token = this.reported(sampled[i]!, alt);
        if (eos.includes(alt.token)) {
          if (generated >= minTokens) this.endWith(row, token, beamScore(sum, promptLength + generated, lengthPenalty));
        } else next.push({ from: i, token, score: beamScore(sum, promptLength + generated + 1, lengthPenalty) });
      }
    });
    next.sort((a, b) => b.score - a.score);
    const chosen = next.slice(0, width);
    const children = live.map((_, i) => chosen.filter((c) => c.from === i));
    const out: CandidateRow[] = [];
    for (const [i, row] of live.entries()) {
      const mine = children[i]!;
      if (mine.length === 0) {
        await runtime.freeSeq(row.seq);
        continue;
      }
      // Copies first (they take the row as it is), then the row itself takes its first continuation.
      const seqs = mine.length > 1 ? await runtime.forkSeq(row.seq, mine.length - 1) : [];
      const rows = [row, ...seqs.map((s) => row.fork(s))];
      for (const [k, c] of mine.entries()) {
        const r = rows[k]!;
        r.accept(c.token);
        if (!r.finished && runtime.seqLength(r.seq) + 1 >= runtime.info.maxPositions) r.finish('length');
        if (r.finished) {
          this.end(r, beamScore(r.logprobTotal, promptLength + r.tokenIds.length, lengthPenalty));
          await runtime.freeSeq(r.seq);
        } else out.push(r);
      }
    }
    if (out.length && this.hopeless(out)) {
      for (const r of out) await runtime.freeSeq(r.seq);
      return [];
    }
    return out;
  }

  /** The ended beams, best first, at most `width`, indexed in that order. */
  finished(): CandidateRow[] {
    return this.ended.map((e, i) => {
      e.row.index = i;
      return e.row;
    });
  }

  /** The entry a token records: its log-probability and, when logprobs are asked, the alternatives. */
  private reported(s: SampledToken, alt: { token: number; logprob: number }): SampledToken {
    const k = this.o.topLogprobs;
    return { token: alt.token, logprob: alt.logprob, top: k > 0 ? s.top.slice(0, k) : [] };
  }

  /** Ends a copy of `row` with end-of-sequence `token` when that copy is among the best `width`. */
  private endWith(row: CandidateRow, token: SampledToken, score: number): void {
    if (!this.keeps(score)) return;
    const r = row.fork(-1);
    r.accept(token);
    this.end(r, score);
  }

  private keeps(score: number): boolean {
    return this.ended.length < this.o.width || score > this.ended[this.ended.length - 1]!.score;
  }

  /** Keeps an ended beam when it is among the best `width`. */
  private end(row: CandidateRow, score: number): void {
    if (!this.keeps(score)) return;
    this.ended.push({ row, score });
    this.ended.sort((a, b) => b.score - a.score);
    if (this.ended.length > this.o.width) this.ended.length = this.o.width;
  }

  /** True when `width` beams have ended and no live beam can reach the worst of them. */
  private hopeless(live: readonly CandidateRow[]): boolean {
    const { width, lengthPenalty, promptLength, maxTokens } = this.o;
    if (this.ended.length < width) return false;
    const worst = this.ended[this.ended.length - 1]!.score;
    // Its sum only falls; over length ** penalty, the best it can reach is at the longest length
    // (penalty > 0) or now (penalty <= 0).
    const longest = promptLength + maxTokens;
    return live.every((r) => beamScore(r.logprobTotal, lengthPenalty > 0 ? longest : promptLength + r.tokenIds.length, lengthPenalty) < worst);
  }
}
