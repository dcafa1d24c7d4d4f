/**
 * Log-probability helpers for the OpenAI `logprobs` / `top_logprobs` fields and for scoring
 * candidates (mean token log-probability). They read the raw logits of one position.
 */

/** log(sum(exp(logits))) computed stably. */
export function logSumExp(logits: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return max + Math.log(sum);
}

/** Log-probability of `token` under the model's unmodified distribution (temperature 1). */
export function tokenLogprob(logits: Float32Array, token: number, lse = logSumExp(logits)): number {
  return logits[token]! - lse;
}

/** The `k` most likely tokens with their log-probabilities, most likely first. */
export function topLogprobs(logits: Float32Array, k: number, lse = logSumExp(logits)): { token: number; logprob: number }[] {
  if (k <= 0) return [];
  const best: { token: number; logit: number }[] = [];
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (best.length < k) {
      best.push({ token: i, logit: v });
      best.sort((a, b) => b.logit - a.logit);
    } else if (v > best[k - 1]!.logit) {
      best[k - 1] = { token: i, logit: v };
      best.sort((a, b) => b.logit - a.logit);
    }
  }
  return best.map((b) => ({ token: b.token, logprob: b.logit - lse }));
}

/** Mean of a list of log-probabilities (-Infinity for an empty list, so it never wins a tie-break). */
export function meanLogprob(logprobs: readonly number[]): number {
  if (logprobs.length === 0) return -Infinity;
  let s = 0;
  for (const l of logprobs) s += l;
  return s / logprobs.length;
}
