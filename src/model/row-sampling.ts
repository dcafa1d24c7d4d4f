/**
 * Sampling inside the model worker, per sequence: its seeded sampler (createDetailedSampler, the
 * code the main thread uses, so a seed gives the same tokens on either side), the last token it
 * drew (fed back by `feedSampled` rows) and a copy of the last logits of a sequence that was not
 * sampled (a prefilled prompt whose children `forkSampled` draws from).
 */
import { logSumExp, topLogprobs } from '../sampling/logprobs.ts';
import { checkSampleParams, createDetailedSampler, type Sampled } from '../sampling/sampler.ts';
import { processesLogits, processLogits, TokenCounts } from '../sampling/logit-processors.ts';
import type { SampledToken, SamplerSpec, SeqId } from './runner-types.ts';
import type { GuideCache, GuideState, TokenGuide } from '../sampling/guided/token-guide.ts';

interface SeqSampler {
  spec: SamplerSpec;
  draw: (logits: Float32Array, lse?: number) => Sampled;
  last: number | null;
  /** Its generated tokens, when the spec has penalties, min-p or min-tokens (the logits are processed first). */
  counts: TokenCounts | null;
  /** Its guide and the guide's state after the tokens drawn so far (guided decoding). */
  guide: { g: TokenGuide; state: GuideState } | null;
}

/** Scratch for processed logits (one row at a time). */
let processed = new Float32Array(0);

function sameSpec(a: SamplerSpec, b: SamplerSpec): boolean {
  const stops = (s: SamplerSpec) => (s.stopTokenIds ?? []).join(',');
  return (
    a.seed === b.seed && a.temperature === b.temperature && a.topP === b.topP && a.topK === b.topK && (a.topLogprobs ?? 0) === (b.topLogprobs ?? 0) && stops(a) === stops(b) &&
    (a.minP ?? 0) === (b.minP ?? 0) && (a.presencePenalty ?? 0) === (b.presencePenalty ?? 0) && (a.frequencyPenalty ?? 0) === (b.frequencyPenalty ?? 0) &&
    (a.repetitionPenalty ?? 1) === (b.repetitionPenalty ?? 1) && JSON.stringify([a.allowedTokenIds, a.badWords]) === JSON.stringify([b.allowedTokenIds, b.badWords]) && (a.repetitionPrompt ?? []).join(',') === (b.repetitionPrompt ?? []).join(',') && (a.minTokens ?? 0) === (b.minTokens ?? 0) &&
    JSON.stringify(a.logitBias ?? []) === JSON.stringify(b.logitBias ?? []) && a.guide?.regex === b.guide?.regex
  );
}

/** Per-sequence sampling state of the worker. */
export class RowSampling {
  private samplers = new Map<SeqId, SeqSampler>();
  private retained = new Map<SeqId, { logits: Float32Array; lse: number }>();

  /** @param guides compiles and keeps the guides of guided specs (absent: a guided spec is refused) */
  constructor(private readonly guides?: GuideCache) {}

  /** Throws (before anything runs) when `spec` is invalid or differs from the spec `seq` already samples with. */
  check(seq: SeqId, spec: SamplerSpec): void {
    const s = this.samplers.get(seq);
    if (s && s.spec !== spec && !sameSpec(s.spec, spec)) {
      throw new Error(`sample: sequence ${seq} already samples with another spec (seed ${s.spec.seed}); a sequence keeps one spec`);
    }
    if (!s) checkSampleParams(spec);
    if (!s && spec.guide && !this.guides) throw new Error('sample.guide: this runtime has no vocabulary texts for guided decoding');
    if (!Number.isSafeInteger(spec.seed)) throw new Error(`sample.seed must be a safe integer (got ${spec.seed})`);
  }

  /**
   * Draws `seq`'s next token from `logits` (its last position; `lse` its log-sum-exp) with its
   * sampler, created from `spec` on first use.
   */
  sample(seq: SeqId, spec: SamplerSpec, logits: Float32Array, lse?: number): SampledToken {
    this.check(seq, spec);
    let s = this.samplers.get(seq);
    if (!s) {
      const g = spec.guide ? this.guides!.get(spec.guide.regex) : null;
      const counted = processesLogits(spec) || (spec.minTokens ?? 0) > 0;
      const counts = counted ? new TokenCounts(spec.repetitionPrompt, (spec.badWords?.length ?? 0) > 0) : null;
      s = { spec, draw: createDetailedSampler(spec, spec.seed), last: null, counts, guide: g ? { g, state: g.start } : null };
      this.samplers.set(seq, s);
    }
    let token: number;
    let logprob: number;
    if (s.counts || s.guide) {
      // Drawn from the processed copy; the logprob stays the model's own (of the raw logits). The
      // draw's own logprob is not used, so it gets a stand-in log-sum-exp (the token does not depend
      // on it) instead of a pass over the vocabulary for its normaliser.
      if (processed.length !== logits.length) processed = new Float32Array(logits.length);
      if (s.counts) processLogits(logits, processed, spec, s.counts);
      else processed.set(logits);
      if (s.counts && s.counts.generated < (spec.minTokens ?? 0)) for (const t of spec.stopTokenIds ?? []) if (t < processed.length) processed[t] = -Infinity;
      if (s.guide) s.guide.g.maskInPlace(s.guide.state, processed);
      // Rules that leave no token at all (allowed tokens all banned, say) end the sequence where they can.
      const stuck = !processed.some((x) => x > -Infinity) && spec.stopTokenIds?.length;
      token = stuck ? spec.stopTokenIds![0]! : s.draw(processed, 0).token;
      logprob = logits[token]! - (lse ?? logSumExp(logits));
      s.counts?.add(token);
      if (s.guide) s.guide.state = s.guide.g.advance(s.guide.state, token);
    } else ({ token, logprob } = s.draw(logits, lse));
    s.last = token;
    this.retained.delete(seq);
    const k = spec.topLogprobs ?? 0;
    return { token, logprob, top: k > 0 ? topLogprobs(logits, k, lse ?? logSumExp(logits)) : [] };
  }

  /** The spec `seq` samples with (for rows that say "same spec as before"). */
  specOf(seq: SeqId): SamplerSpec | undefined {
    return this.samplers.get(seq)?.spec;
  }

  /** The token to feed for a `feedSampled` row, or null when the last one was a stop token (the row is dropped). */
  feedToken(seq: SeqId): number | null {
    const s = this.samplers.get(seq);
    if (!s || s.last === null) throw new Error(`feedSampled: sequence ${seq} has no sampled token to feed`);
    return s.spec.stopTokenIds?.includes(s.last) ? null : s.last;
  }

  /** Keeps a copy of `seq`'s last-position logits (reusing its buffer) for a later forkSampled. */
  retain(seq: SeqId, logits: Float32Array, lse: number): void {
    let r = this.retained.get(seq);
    if (!r || r.logits.length !== logits.length) {
      r = { logits: new Float32Array(logits.length), lse };
      this.retained.set(seq, r);
    }
    r.logits.set(logits);
    r.lse = lse;
  }

  /** Draws each child's first token from `src`'s retained logits with the child's own spec. */
  forkSample(src: SeqId, children: SeqId[], specs: SamplerSpec[]): SampledToken[] {
    const r = this.retained.get(src);
    if (!r) throw new Error(`forkSampled: sequence ${src} has no logits to sample from (its last step sampled, or it has not run)`);
    return children.map((c, i) => this.sample(c, specs[i], r.logits, r.lse));
  }

  /** Forgets a freed sequence. */
  free(seq: SeqId): void {
    this.samplers.delete(seq);
    this.retained.delete(seq);
  }
}
