/**
 * OpenAI response shapes: chat.completion / text_completion objects, their streaming chunks and
 * logprobs, plus skipserve's additions (`skip_plan`, `answer`, `score`, `selected` per choice and
 * the `skip` summary per response).
 */
import { newCallId } from '../tool-call-id.ts';
import type { CallEvent } from '../../engine/tool-call-stream.ts';
import type { GuidedToolMode, ToolCall, ToolMode } from '../../engine/tool-calls.ts';
import { chatAnswer } from '../../engine/chat-answer.ts';
import type { ReasoningParserName } from '../../engine/reasoning-parsers.ts';
import type { CandidateDelta, CandidateResult, EchoedPrompt, GenerationResult, TextTokenizer, TokenLogprob } from '../../engine/types.ts';
import { planToWire } from '../../plans/plan.ts';
import { skipSummary } from './skip-summary.ts';

export type Kind = 'chat' | 'text';

/** Chat logprobs: `{content: [{token, logprob, bytes, top_logprobs}]}`. */
export function chatLogprobs(tok: TextTokenizer, lps: readonly TokenLogprob[]) {
  const entry = (token: number, logprob: number) => {
    const text = tok.tokenText(token);
    return { token: text, logprob, bytes: [...Buffer.from(text, 'utf8')] };
  };
  return { content: lps.map((l) => ({ ...entry(l.token, l.logprob), top_logprobs: l.top.map((t) => entry(t.token, t.logprob)) })) };
}

/**
 * vLLM's prompt_logprobs: per prompt token null (the first, or one not scored) or `{token id:
 * {logprob, rank, decoded_token}}` for the token itself and its alternatives (rank 1 = the most
 * likely; null for the token itself when it is not among the alternatives).
 */
export function promptLogprobsWire(tok: TextTokenizer, p: { tokenIds: number[]; logprobs: (TokenLogprob | null)[] }) {
  return p.logprobs.map((lp, i) => {
    if (!lp) return null;
    const id = p.tokenIds[i]!;
    const rank = lp.top.findIndex((t) => t.token === id);
    const out: Record<string, { logprob: number; rank: number | null; decoded_token: string }> = { [id]: { logprob: lp.logprob, rank: rank >= 0 ? rank + 1 : null, decoded_token: tok.tokenText(id) } };
    lp.top.forEach((t, r) => (out[t.token] ??= { logprob: t.logprob, rank: r + 1, decoded_token: tok.tokenText(t.token) }));
    return out;
  });
}

/**
 * Legacy completions logprobs: `{tokens, token_logprobs, top_logprobs, text_offset}`. With echo the
 * prompt's tokens come first (`prompt`: ids and their scores; the first token, and any the runtime
 * did not score, has null logprob and null alternatives, as OpenAI and vLLM return them).
 */
export function textLogprobs(tok: TextTokenizer, lps: TokenLogprob[], prompt?: { tokenIds: number[]; logprobs: (TokenLogprob | null)[] }, startOffset = 0) {
  let offset = startOffset;
  const text_offset: number[] = [];
  const entries: { token: number; lp: TokenLogprob | null }[] = [...(prompt?.tokenIds.map((token, i) => ({ token, lp: prompt.logprobs[i] ?? null })) ?? []), ...lps.map((lp) => ({ token: lp.token, lp }))];
  const tokens = entries.map(({ token }) => {
    const t = tok.tokenText(token);
    text_offset.push(offset);
    offset += t.length;
    return t;
  });
  return {
    tokens,
    token_logprobs: entries.map(({ lp }) => (lp ? lp.logprob : null)),
    top_logprobs: entries.map(({ lp }) => (lp ? Object.fromEntries(lp.top.map((t) => [tok.tokenText(t.token), t.logprob])) : null)),
    text_offset,
  };
}

function choiceExtras(c: CandidateResult, r: GenerationResult) {
  return {
    skip_plan: planToWire(c.plan),
    answer: c.answer,
    score: Number.isFinite(c.meanLogprob) ? c.meanLogprob : null,
    selected: r.selectedIndex === c.index,
  };
}

/**
 * The candidates a response returns, in its order: all of them by index, or with best_of the best
 * first (each then also names its `candidate_index`, the index `skip.selected_index` and the
 * record use).
 */
export function returnedCandidates(r: GenerationResult): { index: number; c: CandidateResult; extra: { candidate_index?: number } }[] {
  if (!r.returned) return r.candidates.map((c) => ({ index: c.index, c, extra: {} }));
  return r.returned.map((i, pos) => ({ index: pos, c: r.candidates[i]!, extra: { candidate_index: i } }));
}

/** Usage summed over a response's requests (one per prompt). */
function usage(rs: readonly GenerationResult[]) {
  const prompt = rs.reduce((s, r) => s + r.promptTokens, 0);
  const completion = rs.reduce((s, r) => s + r.completionTokens, 0);
  const cached = rs.reduce((s, r) => s + r.cachedTokens, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } };
}

/**
 * The `skip` summary: the request's, or for a batch of prompts (`batch`: each prompt's request id)
 * `{prompts: [{request_id, ...summary}]}`, one per prompt in order.
 */
function batchSkip(rs: readonly GenerationResult[], batch: readonly string[] | undefined, extra: (r: GenerationResult, k: number) => Record<string, unknown> = () => ({})) {
  if (!batch) return { ...skipSummary(rs[0]!), ...extra(rs[0]!, 0) };
  return { prompts: rs.map((r, k) => ({ request_id: batch[k]!, ...skipSummary(r), ...extra(r, k) })) };
}

/**
 * The full (non-streaming) response body over one result per prompt: choices ordered by prompt,
 * then candidate (prompt k's choice i has index k * n + i); in a batch each names its `request_id`.
 */
export function completionBody(kind: Kind, id: string, model: string, created: number, rs: readonly GenerationResult[], tok: TextTokenizer, withLogprobs: boolean, batch?: readonly string[], toolMode?: ToolMode | null, reasoning?: ReasoningParserName) {
  const choices = rs.flatMap((r, k) => {
    const returned = returnedCandidates(r);
    return returned.map(({ index, c, extra }) => ({ index: k * returned.length + index, c, r, extra: batch ? { ...extra, request_id: batch[k]! } : extra }));
  }).map(({ index, c, r, extra }) =>
    kind === 'chat'
      ? { index, ...extra, ...chatTurn(c.text, c.finishReason, toolMode, reasoning), logprobs: withLogprobs ? chatLogprobs(tok, c.logprobs) : null, ...choiceExtras(c, r) }
      : {
          index,
          ...extra,
          text: r.prompt ? r.prompt.text + c.text : c.text,
          logprobs: withLogprobs ? textLogprobs(tok, c.logprobs, r.prompt?.logprobs ? { tokenIds: r.prompt.tokenIds, logprobs: r.prompt.logprobs } : undefined) : null,
          finish_reason: c.finishReason,
          ...(r.promptLogprobs ? { prompt_logprobs: promptLogprobsWire(tok, r.promptLogprobs) } : {}),
          ...choiceExtras(c, r),
        },
  );
  return {
    id,
    object: kind === 'chat' ? 'chat.completion' : 'text_completion',
    created,
    model,
    choices,
    ...(kind === 'chat' && rs[0]?.promptLogprobs ? { prompt_logprobs: promptLogprobsWire(tok, rs[0].promptLogprobs) } : {}),
    usage: usage(rs),
    skip: batchSkip(rs, batch),
  };
}

/** A candidate that ended its calls stopped with `tool_calls`; one cut short keeps its reason. */
const toolFinish = (reason: string) => (reason === 'stop' ? 'tool_calls' : reason);

/**
 * A chat choice's message and finish reason: under a named or `required` tool choice the calls its
 * text makes (content null, finish reason `tool_calls`; a text that is not a complete call, cut by
 * max_tokens, stays content); otherwise its content, with a reasoning parser its
 * `reasoning_content`, and under `auto` the calls it chose to make.
 */
function chatTurn(text: string, finishReason: string, toolMode: ToolMode | null | undefined, reasoning: ReasoningParserName | undefined) {
  const guided = toolMode && toolMode.kind !== 'auto';
  const a = chatAnswer(text, toolMode ?? null, reasoning);
  const message = { role: 'assistant', content: a.content, ...(reasoning && !guided ? { reasoning_content: a.reasoning } : {}), ...(a.calls.length ? { tool_calls: a.calls.map((c) => wireCall(c)) } : {}) };
  return { message, finish_reason: a.calls.length ? toolFinish(finishReason) : finishReason };
}

/** A whole call in OpenAI's shape, with a new id. */
function wireCall(c: ToolCall, index?: number) {
  return { ...(index === undefined ? {} : { index }), id: newCallId(), type: 'function', function: { name: c.name, arguments: c.arguments } };
}

/**
 * A streamed free-text chat choice's chunk (ChatAnswerStream): the reasoning and content its text
 * may send now (what may be the start of calls or of `</think>` is held back) and, under `auto`,
 * at its end its calls whole, finish reason `tool_calls`.
 */
export function answerChunk(id: string, model: string, created: number, index: number, piece: { reasoning: string; content: string; calls: readonly ToolCall[]; first: boolean; finishReason?: string; logprobs: ReturnType<typeof chatLogprobs> | null }, extras: Record<string, unknown>) {
  const delta = {
    ...(piece.first ? { role: 'assistant' } : {}),
    ...(piece.reasoning ? { reasoning_content: piece.reasoning } : {}),
    ...(piece.content || (piece.first && !piece.reasoning) ? { content: piece.content } : {}),
    ...(piece.calls.length ? { tool_calls: piece.calls.map((c, i) => wireCall(c, i)) } : {}),
  };
  const finish = piece.finishReason ? (piece.calls.length ? toolFinish(piece.finishReason) : piece.finishReason) : null;
  return { id, object: 'chat.completion.chunk', created, model, choices: [{ index, delta, logprobs: piece.logprobs, finish_reason: finish, ...extras }] };
}

/**
 * A streamed tool-mode choice, as OpenAI streams calls: a call's first entry opens it (`index`,
 * `id`, name), later entries add to its `function.arguments`, the choice's last chunk says
 * `tool_calls` (or `length`). A named function's arguments are the choice's text as it comes;
 * under `required` the calls are read from the text as it streams (`events`, ToolCallStream).
 * With logprobs, each chunk carries its tokens' (a chunk may then add no call text).
 */
export function toolCallChunk(id: string, model: string, created: number, index: number, piece: { text: string; first: boolean; finishReason?: string; events?: readonly CallEvent[]; logprobs: ReturnType<typeof chatLogprobs> | null }, toolMode: GuidedToolMode, extras: Record<string, unknown>) {
  const head = piece.first ? { role: 'assistant', content: null } : {};
  const finish = piece.finishReason ? toolFinish(piece.finishReason) : null;
  const calls =
    toolMode.kind === 'named'
      ? [piece.first ? wireCall({ name: toolMode.name, arguments: piece.text }, 0) : { index: 0, function: { arguments: piece.text } }]
      : (piece.events ?? []).map((e) => (e.kind === 'open' ? wireCall({ name: e.name, arguments: '' }, e.index) : { index: e.index, function: { arguments: e.text } }));
  const delta = { ...head, ...(calls.length ? { tool_calls: calls } : {}) };
  return { id, object: 'chat.completion.chunk', created, model, choices: [{ index, delta, logprobs: piece.logprobs, finish_reason: finish, ...extras }] };
}

/**
 * One streaming chunk for one candidate's delta. `echo` (completions, on a choice's first chunk):
 * the prompt goes before the delta's text, and with logprobs its tokens before the delta's.
 * `textOffset` (completions): where this chunk's first token starts in the choice's whole text, so
 * that `text_offset` counts from the start of the choice as in the unstreamed response.
 */
export function deltaChunk(kind: Kind, id: string, model: string, created: number, d: CandidateDelta, first: boolean, tok: TextTokenizer, withLogprobs: boolean, extras: Record<string, unknown>, echo?: EchoedPrompt, textOffset = 0) {
  const prompt = echo?.logprobs ? { tokenIds: echo.tokenIds, logprobs: echo.logprobs } : undefined;
  const logprobs = withLogprobs && (d.logprobs.length || prompt) ? (kind === 'chat' ? chatLogprobs(tok, d.logprobs) : textLogprobs(tok, d.logprobs, prompt, textOffset)) : null;
  const choice =
    kind === 'chat'
      ? { index: d.index, delta: first ? { role: 'assistant', content: d.text } : { content: d.text }, logprobs, finish_reason: d.finishReason ?? null, ...extras }
      : { index: d.index, text: echo ? echo.text + d.text : d.text, logprobs, finish_reason: d.finishReason ?? null, ...extras };
  return { id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model, choices: [choice] };
}

/** The last chunk: no choices, the usage (when asked) and the `skip` summary with per-choice answers (choice indices as streamed). */
export function summaryChunk(kind: Kind, id: string, model: string, created: number, rs: readonly GenerationResult[], includeUsage: boolean, batch?: readonly string[]) {
  return {
    id,
    object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion',
    created,
    model,
    choices: [],
    ...(includeUsage ? { usage: usage(rs) } : {}),
    skip: batchSkip(rs, batch, (r, k) => ({ choices: r.candidates.map((c) => ({ index: k * r.candidates.length + c.index, ...choiceExtras(c, r) })) })),
  };
}
