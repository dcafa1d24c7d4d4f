/**
 * Domain records <-> table rows, shared by both engines: the columns derived for mining (voted
 * answer, agreement), JSON columns as text, and the validation a feedback gets before any SQL.
 */
import type {
  CandidateRecord,
  FeedbackInput,
  FeedbackRecord,
  FeedbackResult,
  JsonValue,
  ServedRecord,
  StoredRecord,
  StoredResponse,
} from './types.ts';

export interface RequestRow {
  id: string;
  created_at_ms: number;
  prompt_text: string;
  prompt_tokens: number;
  policy: string;
  arm: string | null;
  model_version: string;
  selector_version: string | null;
  candidate_count: number;
  selected_index: number | null;
  voted_answer: string | null;
  answer_agreement: number;
  diversity: string | null;
  speedup: number | null;
  queue_ms: number;
  ttft_ms: number | null;
  total_ms: number;
  reference_answer: string | null;
  reference_match: boolean | null;
  metadata: string | null;
  response: string | null;
}

export interface CandidateRow {
  request_id: string;
  idx: number;
  plan: string;
  text: string;
  answer: string | null;
  mean_logprob: number | null;
  finish_reason: string;
  completion_tokens: number;
}

export interface FeedbackRow {
  request_id: string;
  source: string;
  answer: string | null;
  labels: string | null;
  score: number | null;
  created_at_ms: number;
  updated_at_ms: number;
}

/** Columns as a database driver hands them back (bigint as string, booleans as 0/1, JSON as text). */
type Loose<R> = { [K in keyof R]: unknown };

const finiteOrNull = (x: number | null | undefined): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/** Share of candidates giving the most common (non-null) answer: 1 = all agree, low = disagreement. */
export function answerAgreement(candidates: readonly CandidateRecord[]): number {
  const counts = new Map<string, number>();
  let best = 0;
  for (const c of candidates) {
    if (c.answer === null) continue;
    const n = (counts.get(c.answer) ?? 0) + 1;
    counts.set(c.answer, n);
    best = Math.max(best, n);
  }
  return candidates.length ? best / candidates.length : 0;
}

/** Splits a record into its request row and candidate rows. */
export function toRows(r: ServedRecord): { request: RequestRow; candidates: CandidateRow[] } {
  const selected = r.selectedIndex === undefined ? undefined : r.candidates.find((c) => c.index === r.selectedIndex);
  return {
    request: {
      id: r.id,
      created_at_ms: r.createdAt,
      prompt_text: r.promptText,
      prompt_tokens: r.promptTokens,
      policy: r.policy,
      arm: r.arm ?? null,
      model_version: r.modelVersion,
      selector_version: r.selectorVersion ?? null,
      candidate_count: r.candidates.length,
      selected_index: r.selectedIndex ?? null,
      voted_answer: selected?.answer ?? null,
      answer_agreement: answerAgreement(r.candidates),
      diversity: r.diversity === undefined ? null : JSON.stringify(r.diversity),
      speedup: finiteOrNull(r.speedup),
      queue_ms: r.timings.queueMs,
      ttft_ms: finiteOrNull(r.timings.ttftMs),
      total_ms: r.timings.totalMs,
      reference_answer: r.referenceAnswer ?? null,
      reference_match: r.referenceMatch ?? null,
      metadata: r.metadata === undefined ? null : JSON.stringify(r.metadata),
      response: r.response === undefined ? null : JSON.stringify(r.response),
    },
    candidates: r.candidates.map((c) => ({
      request_id: r.id,
      idx: c.index,
      plan: JSON.stringify(c.plan ?? null),
      text: c.text,
      answer: c.answer,
      mean_logprob: finiteOrNull(c.meanLogprob),
      finish_reason: c.finishReason,
      completion_tokens: c.completionTokens,
    })),
  };
}

const num = (v: unknown): number => Number(v);
const optNum = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));
const optStr = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));
const parse = (v: unknown): JsonValue => (typeof v === 'string' ? JSON.parse(v) : (v as JsonValue));

/** Rebuilds a record from its rows (any driver's value types); optional fields that are null are omitted. */
export function fromRows(
  req: Loose<RequestRow>,
  candidates: Loose<CandidateRow>[],
  feedback: Loose<FeedbackRow>[],
): StoredRecord {
  const out: StoredRecord = {
    id: String(req.id),
    createdAt: num(req.created_at_ms),
    promptText: String(req.prompt_text),
    promptTokens: num(req.prompt_tokens),
    policy: String(req.policy),
    modelVersion: String(req.model_version),
    candidates: candidates
      .map((c) => ({
        index: num(c.idx),
        plan: parse(c.plan),
        text: String(c.text),
        answer: c.answer === null ? null : String(c.answer),
        meanLogprob: c.mean_logprob === null ? null : num(c.mean_logprob),
        finishReason: String(c.finish_reason),
        completionTokens: num(c.completion_tokens),
      }))
      .sort((a, b) => a.index - b.index),
    timings: { queueMs: num(req.queue_ms), ttftMs: req.ttft_ms === null ? null : num(req.ttft_ms), totalMs: num(req.total_ms) },
    feedback: feedback.map(feedbackFromRow).sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0)),
  };
  const optional = {
    arm: optStr(req.arm),
    selectorVersion: optStr(req.selector_version),
    selectedIndex: optNum(req.selected_index),
    diversity: req.diversity === null ? undefined : (parse(req.diversity) as { [key: string]: number }),
    speedup: optNum(req.speedup),
    referenceAnswer: optStr(req.reference_answer),
    referenceMatch: req.reference_match === null ? undefined : Boolean(req.reference_match),
    metadata: req.metadata === null || req.metadata === undefined ? undefined : (parse(req.metadata) as { [key: string]: string }),
    response: req.response === null || req.response === undefined ? undefined : (parse(req.response) as StoredResponse),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  return out;
}

function feedbackFromRow(f: Loose<FeedbackRow>): FeedbackRecord {
  const out: FeedbackRecord = { source: String(f.source), createdAt: num(f.created_at_ms), updatedAt: num(f.updated_at_ms) };
  if (f.answer !== null) out.answer = String(f.answer);
  if (f.labels !== null) out.labels = parse(f.labels) as boolean[];
  if (f.score !== null) out.score = num(f.score);
  return out;
}

const isInt = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0;
const isStr = (x: unknown): x is string => typeof x === 'string';

/**
 * What is wrong with a record, or null: checked when it is queued, so one malformed record cannot
 * make a whole batch's transaction fail.
 */
export function recordProblem(r: ServedRecord): string | null {
  if (!isStr(r.id) || r.id.length === 0 || r.id.length > 200) return 'id must be a string of 1-200 characters';
  if (!Number.isFinite(r.createdAt)) return 'createdAt must be a finite number';
  if (!isStr(r.promptText) || !isInt(r.promptTokens)) return 'promptText must be a string and promptTokens an integer >= 0';
  if (!isStr(r.policy) || !isStr(r.modelVersion)) return 'policy and modelVersion must be strings';
  if (!Array.isArray(r.candidates)) return 'candidates must be an array';
  const seen = new Set<number>();
  for (const c of r.candidates) {
    if (!isInt(c.index) || seen.has(c.index)) return `candidate index ${c.index} is not a distinct integer >= 0`;
    seen.add(c.index);
    if (!isStr(c.text) || !isStr(c.finishReason) || !isInt(c.completionTokens) || !(c.answer === null || isStr(c.answer)))
      return `candidate ${c.index}: text and finishReason must be strings, answer a string or null, completionTokens an integer`;
  }
  if (r.selectedIndex !== undefined && !seen.has(r.selectedIndex)) return `selectedIndex ${r.selectedIndex} names no candidate`;
  if (!r.timings || !Number.isFinite(r.timings.queueMs) || !Number.isFinite(r.timings.totalMs)) return 'timings.queueMs and totalMs must be finite';
  if (r.metadata !== undefined && (r.metadata === null || typeof r.metadata !== 'object' || !Object.values(r.metadata).every(isStr)))
    return 'metadata must be an object of strings';
  if (r.response !== undefined && !(r.response !== null && Array.isArray(r.response.input) && r.response.object !== null && typeof r.response.object === 'object'))
    return 'response must be { input: an array, object: an object }';
  return null;
}

/** Checks a feedback before it reaches SQL; returns the `invalid` result naming the field, or null. */
export function validateFeedback(f: FeedbackInput): Extract<FeedbackResult, { status: 'invalid' }> | null {
  const bad = (field: string, message: string) => ({ status: 'invalid' as const, field, message });
  if (typeof f.id !== 'string' || f.id.length === 0 || f.id.length > 200) return bad('id', 'id must be a string of 1-200 characters');
  if (typeof f.source !== 'string' || f.source.length === 0 || f.source.length > 200)
    return bad('source', 'source must be a string of 1-200 characters');
  const given = (['answer', 'labels', 'score'] as const).filter((k) => f[k] !== undefined);
  if (given.length !== 1) return bad('answer', `exactly one of answer, labels or score is required (got ${given.length})`);
  if (f.answer !== undefined && typeof f.answer !== 'string') return bad('answer', 'answer must be a string');
  if (f.score !== undefined && !(typeof f.score === 'number' && Number.isFinite(f.score))) return bad('score', 'score must be a finite number');
  if (f.labels !== undefined && !(Array.isArray(f.labels) && f.labels.length > 0 && f.labels.every((l) => typeof l === 'boolean')))
    return bad('labels', 'labels must be a non-empty array of booleans, one per choice');
  return null;
}

/** The feedback's row values (labels as JSON text); the label count is checked against the record in SQL. */
export function feedbackRow(f: FeedbackInput, now: number): FeedbackRow {
  return {
    request_id: f.id,
    source: f.source,
    answer: f.answer ?? null,
    labels: f.labels === undefined ? null : JSON.stringify(f.labels),
    score: f.score ?? null,
    created_at_ms: now,
    updated_at_ms: now,
  };
}
