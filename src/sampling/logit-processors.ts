/**
 * What a request may do to the logits before a token is drawn, beside temperature, top-k and
 * top-p: OpenAI's logit_bias (a constant added to chosen tokens' logits; -100 all but bans a
 * token, +100 all but forces it), OpenAI's presence and frequency penalties over the tokens the sequence has generated so
 * far (`logit - frequency * count - presence * (count > 0)`, as OpenAI documents them), vLLM's
 * repetition penalty over the prompt's and the generated tokens (a seen token's logit divided by it
 * when positive, multiplied by it otherwise, as Hugging Face's processor does), vLLM's
 * allowed_token_ids (every other token cut) and bad_words (a banned sequence's last token cut where
 * the tokens before it were just generated) and min-p
 * (vLLM, llama.cpp: a token stays a candidate only when its probability at the request's
 * temperature is at least `minP` times the most likely token's). They write into a copy, so the
 * reported log-probabilities stay those of the model's own distribution.
 */
import type { SamplingParams } from './sampler.ts';

/** True when `p` asks for any processing (the common case asks none and pays nothing). */
export function processesLogits(p: SamplingParams): boolean {
  return (p.presencePenalty ?? 0) !== 0 || (p.repetitionPenalty ?? 1) !== 1 || p.allowedTokenIds !== undefined || (p.badWords?.length ?? 0) > 0 || (p.frequencyPenalty ?? 0) !== 0 || (p.logitBias?.length ?? 0) > 0 || ((p.minP ?? 0) > 0 && p.temperature > 0);
}

/** Tokens a sequence has generated, with their counts, and every token it has seen (the penalties' memory). */
export class TokenCounts {
  private readonly counts = new Map<number, number>();
  private readonly seenTokens: Set<number>;
  /** The generated tokens in order (kept only for bad words). */
  readonly history: number[] | null;
  /** Tokens generated so far. */
  generated = 0;

  /** @param prompt the prompt's tokens, seen but not generated (the repetition penalty's) */
  constructor(prompt: readonly number[] = [], keepHistory = false) {
    this.seenTokens = new Set(prompt);
    this.history = keepHistory ? [] : null;
  }

  add(token: number): void {
    this.counts.set(token, (this.counts.get(token) ?? 0) + 1);
    this.seenTokens.add(token);
    this.history?.push(token);
    this.generated++;
  }

  /** The prompt's and the generated tokens, each once. */
  seen(): Iterable<number> {
    return this.seenTokens;
  }

  entries(): IterableIterator<[number, number]> {
    return this.counts.entries();
  }
}

/**
 * `out` = `logits` with the bias, the repetition penalty, the presence and frequency penalties of `counts`, the allowed tokens, the bad words and the min-p cut applied (cut tokens get
 * -Infinity; the most likely token always stays). `out` must be as long as `logits`.
 */
export function processLogits(logits: Float32Array, out: Float32Array, p: SamplingParams, counts: TokenCounts): Float32Array {
  out.set(logits);
  for (const [token, bias] of p.logitBias ?? []) if (token < out.length) out[token] = out[token]! + bias;
  const repetition = p.repetitionPenalty ?? 1;
  if (repetition !== 1) {
    for (const token of counts.seen()) if (token < out.length) out[token] = out[token]! > 0 ? out[token]! / repetition : out[token]! * repetition;
  }
  const presence = p.presencePenalty ?? 0;
  const frequency = p.frequencyPenalty ?? 0;
  if (presence !== 0 || frequency !== 0) {
    for (const [token, count] of counts.entries()) if (token < out.length) out[token] = out[token]! - frequency * count - presence;
  }
  if (p.allowedTokenIds) {
    const kept = p.allowedTokenIds.map((t) => out[t]!);
    out.fill(-Infinity);
    p.allowedTokenIds.forEach((t, i) => t < out.length && (out[t] = kept[i]!));
  }
  for (const w of p.badWords ?? []) if (endsWith(counts.history ?? [], w, w.length - 1) && w.at(-1)! < out.length) out[w.at(-1)!] = -Infinity;
  const minP = p.minP ?? 0;
  if (minP > 0 && p.temperature > 0) {
    let max = -Infinity;
    for (let i = 0; i < out.length; i++) if (out[i]! > max) max = out[i]!;
    // p_i / p_max = exp((l_i - l_max) / T) >= minP  <=>  l_i >= l_max + T ln(minP)
    const floor = max + p.temperature * Math.log(minP);
    for (let i = 0; i < out.length; i++) if (out[i]! < floor) out[i] = -Infinity;
  }
  return out;
}

/** True when `seq` ends with the first `k` tokens of `w`. */
function endsWith(seq: readonly number[], w: readonly number[], k: number): boolean {
  if (k > seq.length) return false;
  for (let i = 0; i < k; i++) if (seq[seq.length - k + i] !== w[i]) return false;
  return true;
}
