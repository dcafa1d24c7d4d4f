/**
 * proto <-> domain: maps a GenerateRequest message to the shared wire shape (validated by the same
 * zod schema as HTTP) and engine results back to proto messages.
 */
import { InvalidRequestError } from '../../errors.ts';
import type { CandidateDelta, GenerationResult, TextTokenizer, TokenLogprob } from '../../engine/types.ts';
import { planToWire, type SkipPlan, type SkipPlanWire } from '../../plans/plan.ts';
import type { WireCommon, WirePrompt } from '../build-request.ts';
import { CommonSchema, parseBody } from '../request-schema.ts';
import { skipSummary } from '../skip-summary.ts';
import type { CandidateDeltaMsg, GenerateRequestMsg, GenerateResponseMsg, SkipPlanMsg, TokenLogprobMsg } from './messages.ts';

function planFromMsg(p: SkipPlanMsg): SkipPlanWire {
  const mask: Record<string, number[]> = {};
  for (const [layer, list] of Object.entries(p.mask_heads ?? {})) mask[layer] = list.heads;
  return { skip_layers: p.skip_layers, skip_attention: p.skip_attention, skip_mlp: p.skip_mlp, mask_heads: mask };
}

/** Domain plan -> proto plan. */
export function planToMsg(plan: SkipPlan): SkipPlanMsg {
  const w = planToWire(plan);
  return {
    skip_layers: w.skip_layers ?? [],
    skip_attention: w.skip_attention ?? [],
    skip_mlp: w.skip_mlp ?? [],
    mask_heads: Object.fromEntries(Object.entries(w.mask_heads ?? {}).map(([l, heads]) => [l, { heads }])),
  };
}

/** Maps and validates a GenerateRequest; errors name the proto field. */
export function requestFromMsg(m: GenerateRequestMsg): { body: WireCommon; prompt: WirePrompt } {
  const hasPrompt = m.prompt !== '';
  const hasMessages = m.messages.length > 0;
  if (hasPrompt === hasMessages) throw new InvalidRequestError('set exactly one of prompt or messages', hasPrompt ? 'messages' : 'prompt');
  const raw: Record<string, unknown> = {};
  if (m.model) raw.model = m.model;
  if (m.n !== undefined) raw.n = m.n;
  if (m.max_tokens !== undefined) raw.max_tokens = m.max_tokens;
  if (m.temperature !== undefined) raw.temperature = m.temperature;
  if (m.top_p !== undefined) raw.top_p = m.top_p;
  if (m.top_k !== undefined) raw.top_k = m.top_k;
  if (m.seed !== undefined) raw.seed = m.seed;
  if (m.stop.length) raw.stop = m.stop;
  if (m.ignore_eos) raw.ignore_eos = true;
  if (m.skip) {
    const s = m.skip;
    const skip: Record<string, unknown> = {};
    if (s.policy) skip.policy = s.policy;
    if (s.plan) skip.plan = planFromMsg(s.plan);
    if (s.plans.length) skip.plans = s.plans.map(planFromMsg);
    if (s.k !== undefined) skip.k = s.k;
    if (s.target_speedup !== undefined) skip.target_speedup = s.target_speedup;
    if (s.domain) skip.domain = s.domain;
    if (s.select) skip.select = s.select;
    if (s.answer_pattern) skip.answer_pattern = s.answer_pattern;
    raw.skip = skip;
  }
  if (m.top_logprobs !== undefined && !m.logprobs) throw new InvalidRequestError('top_logprobs needs logprobs: true', 'top_logprobs');
  const body = parseBody(CommonSchema, raw);
  for (const [i, msg] of m.messages.entries()) {
    if (!['system', 'user', 'assistant', 'developer'].includes(msg.role)) throw new InvalidRequestError(`role must be system, user, assistant or developer; got '${msg.role}'`, `messages[${i}].role`);
  }
  const prompt: WirePrompt = hasPrompt ? { kind: 'text', text: m.prompt } : { kind: 'chat', messages: m.messages };
  return { body, prompt };
}

function logprobsToMsg(tok: TextTokenizer, lps: TokenLogprob[]): TokenLogprobMsg[] {
  return lps.map((l) => ({
    token: tok.tokenText(l.token),
    token_id: l.token,
    logprob: l.logprob,
    top_logprobs: l.top.map((t) => ({ token: tok.tokenText(t.token), token_id: t.token, logprob: t.logprob })),
  }));
}

/** One streamed delta as a proto message. */
export function deltaToMsg(tok: TextTokenizer, d: CandidateDelta): CandidateDeltaMsg {
  return { index: d.index, text: d.text, token_ids: d.tokenIds, finish_reason: d.finishReason ?? '', logprobs: logprobsToMsg(tok, d.logprobs) };
}

/** The whole result as a GenerateResponse. */
export function resultToMsg(tok: TextTokenizer, id: string, model: string, created: number, r: GenerationResult): GenerateResponseMsg {
  const s = skipSummary(r);
  return {
    id,
    model,
    created,
    candidates: r.candidates.map((c) => ({
      index: c.index,
      text: c.text,
      token_ids: c.tokenIds,
      finish_reason: c.finishReason,
      skip_plan: planToMsg(c.plan),
      answer: c.answer ?? '',
      has_answer: c.answer !== null,
      mean_logprob: Number.isFinite(c.meanLogprob) ? c.meanLogprob : 0,
      selected: r.selectedIndex === c.index,
      logprobs: logprobsToMsg(tok, c.logprobs),
    })),
    skip: { policy: s.policy, arm: s.arm ?? '', selected_index: s.selected_index ?? -1, speedup: s.speedup ?? 0, skipped_compute_ratio: s.skipped_compute_ratio, diversity: s.diversity },
    usage: { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens },
  };
}
