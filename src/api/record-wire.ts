/**
 * A stored record in wire form (snake_case JSON), as GET /v1/requests/{id} returns it: the prompt,
 * policy and arm, versions, each choice with its skip plan, answer and score, the selection,
 * diversity, speedup, timings, reference answer, metadata and every feedback on it.
 */
import type { DiversityFigures } from '../engine/diversity.ts';
import type { FeedbackRecord, StoredRecord } from '../store/types.ts';
import { diversityToWire } from './diversity-wire.ts';

/** One feedback in wire form. */
export function feedbackToWire(f: FeedbackRecord) {
  return {
    source: f.source,
    ...(f.answer !== undefined ? { answer: f.answer } : {}),
    ...(f.labels !== undefined ? { labels: f.labels } : {}),
    ...(f.score !== undefined ? { score: f.score } : {}),
    created: Math.floor(f.createdAt / 1000),
    updated: Math.floor(f.updatedAt / 1000),
  };
}

/** The whole record in wire form. */
export function recordToWire(r: StoredRecord) {
  return {
    id: r.id,
    object: 'request.record',
    created: Math.floor(r.createdAt / 1000),
    prompt: r.promptText,
    prompt_tokens: r.promptTokens,
    policy: r.policy,
    arm: r.arm ?? null,
    model_version: r.modelVersion,
    selector_version: r.selectorVersion ?? null,
    choices: r.candidates.map((c) => ({
      index: c.index,
      skip_plan: c.plan,
      text: c.text,
      answer: c.answer,
      score: c.meanLogprob,
      finish_reason: c.finishReason,
      completion_tokens: c.completionTokens,
      selected: r.selectedIndex === c.index,
    })),
    selected_index: r.selectedIndex ?? null,
    diversity: r.diversity ? diversityToWire(r.diversity as unknown as DiversityFigures) : null,
    speedup: r.speedup ?? null,
    timings: { queue_ms: r.timings.queueMs, time_to_first_token_ms: r.timings.ttftMs, total_ms: r.timings.totalMs },
    reference_answer: r.referenceAnswer ?? null,
    matched_reference: r.referenceMatch ?? null,
    metadata: r.metadata ?? {},
    feedback: r.feedback.map(feedbackToWire),
  };
}
