/**
 * proto <-> domain for the record service: a FeedbackRequest as the store's feedback input (the
 * oneof makes "exactly one of" structural), and a stored record as a RequestRecord message.
 */
import type { DiversityFigures } from '../../engine/diversity.ts';
import { InvalidRequestError } from '../../errors.ts';
import type { SkipPlanWire } from '../../plans/plan.ts';
import type { FeedbackInput, StoredRecord } from '../../store/types.ts';
import { diversityToWire } from '../diversity-wire.ts';
import type { FeedbackRequestMsg, RequestRecordMsg, SkipPlanMsg } from './messages.ts';

/** A FeedbackRequest as feedback input; a request with no value set is refused naming `answer`. */
export function feedbackFromMsg(m: FeedbackRequestMsg): FeedbackInput {
  const base = { id: m.id, source: m.source };
  switch (m.value) {
    case 'answer':
      return { ...base, answer: m.answer ?? '' };
    case 'labels':
      return { ...base, labels: m.labels?.values ?? [] };
    case 'score':
      return { ...base, score: m.score ?? 0 };
    default:
      throw new InvalidRequestError('set exactly one of answer, labels or score', 'answer');
  }
}

/** A recorded plan (its wire JSON) as a proto plan. */
function planMsg(plan: unknown): SkipPlanMsg {
  const w = (plan ?? {}) as SkipPlanWire;
  return {
    skip_layers: w.skip_layers ?? [],
    skip_attention: w.skip_attention ?? [],
    skip_mlp: w.skip_mlp ?? [],
    mask_heads: Object.fromEntries(Object.entries(w.mask_heads ?? {}).map(([l, heads]) => [l, { heads }])),
  };
}

/** A stored record as a RequestRecord message. */
export function recordToMsg(r: StoredRecord): RequestRecordMsg {
  return {
    id: r.id,
    created_ms: r.createdAt,
    prompt: r.promptText,
    prompt_tokens: r.promptTokens,
    policy: r.policy,
    arm: r.arm ?? '',
    model_version: r.modelVersion,
    selector_version: r.selectorVersion ?? '',
    candidates: r.candidates.map((c) => ({
      index: c.index,
      skip_plan: planMsg(c.plan),
      text: c.text,
      answer: c.answer ?? '',
      has_answer: c.answer !== null,
      ...(c.meanLogprob !== null ? { mean_logprob: c.meanLogprob } : {}),
      finish_reason: c.finishReason,
      completion_tokens: c.completionTokens,
      selected: r.selectedIndex === c.index,
    })),
    selected_index: r.selectedIndex ?? -1,
    diversity: r.diversity ? diversityToWire(r.diversity as unknown as DiversityFigures) : null,
    ...(r.speedup !== undefined ? { speedup: r.speedup } : {}),
    timings: { queue_ms: r.timings.queueMs, ...(r.timings.ttftMs !== null ? { time_to_first_token_ms: r.timings.ttftMs } : {}), total_ms: r.timings.totalMs },
    reference_answer: r.referenceAnswer ?? '',
    ...(r.referenceMatch !== undefined ? { matched_reference: r.referenceMatch } : {}),
    metadata: r.metadata ?? {},
    feedback: r.feedback.map((f) => ({
      source: f.source,
      ...(f.answer !== undefined ? { answer: f.answer } : {}),
      labels: f.labels ?? [],
      ...(f.score !== undefined ? { score: f.score } : {}),
      created_ms: f.createdAt,
      updated_ms: f.updatedAt,
    })),
  };
}
