/**
 * POST /v1/chat/completions and POST /v1/completions: parse the body, map it to RequestSpecs (one;
 * a completions batch of prompts gives one per prompt), submit, then answer with one JSON body or an
 * SSE stream (one chunk per candidate delta, each with its choice `index`, a final chunk with the
 * `skip` summary, then `data: [DONE]`; with echo, a choice's first chunk starts with the prompt).
 * A client that goes away cancels the request, which frees its rows at the engine's next step.
 */
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { ServedHandle } from '../../engine/local-engine.ts';
import type { GenerationResult } from '../../engine/types.ts';
import { InvalidRequestError } from '../../errors.ts';
import { countEdgeError } from '../../metrics/outcomes.ts';
import { planToWire } from '../../plans/plan.ts';
import type { ApiContext } from '../context.ts';
import { clientAbort, jsonAnswer } from './client-abort.ts';
import { errorResponse, toHttp } from './errors.ts';
import { answerChunk, chatLogprobs, completionBody, deltaChunk, summaryChunk, toolCallChunk, type Kind } from './openai-format.ts';
import { ChatAnswerStream } from '../../engine/chat-answer.ts';
import { ToolCallStream, type CallEvent } from '../../engine/tool-call-stream.ts';
import { mergeEvents } from './merge-events.ts';
import { ChatRequestSchema, CompletionRequestSchema, parseBody } from './request-schema.ts';
import { chatSpec, completionSpecs, type HttpSpec } from './to-request-spec.ts';

/** Reads the JSON body; malformed JSON is a 400 that says so. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidRequestError(`malformed JSON body: ${(err as Error).message}`, null, 'invalid_json');
  }
}

/** Handles one chat or text completion request. */
export async function handleGenerate(c: Context, ctx: ApiContext, kind: Kind): Promise<Response> {
  const receivedAt = performance.now();
  const raw = await readJson(c);
  const parsed: { specs: HttpSpec[]; stream: boolean; includeUsage: boolean; continuousUsage: boolean } =
    kind === 'chat'
      ? (() => {
          const b = parseBody(ChatRequestSchema, raw);
          return { specs: [chatSpec(b, ctx.config.toolCallParser)], stream: b.stream ?? false, includeUsage: b.stream_options?.include_usage ?? false, continuousUsage: b.stream_options?.continuous_usage_stats ?? false };
        })()
      : (() => {
          const b = parseBody(CompletionRequestSchema, raw);
          return { specs: completionSpecs(b), stream: b.stream ?? false, includeUsage: b.stream_options?.include_usage ?? false, continuousUsage: b.stream_options?.continuous_usage_stats ?? false };
        })();
  const ca = clientAbort(c);
  const { abort } = ca;
  const key = c.req.header('x-skipserve-key') ?? undefined;
  // The engine serving now; this request stays on it (and on its versions) even if a reload swaps it.
  const engine = ctx.model;
  // Each prompt is its own request; if one is refused, those already submitted are cancelled.
  const handles: ServedHandle[] = [];
  for (const s of parsed.specs) {
    try {
      handles.push(await engine.submit({ ...s.spec, stream: parsed.stream, key, signal: abort.signal, receivedAt }));
    } catch (err) {
      abort.abort();
      ca.release();
      countEdgeError(ctx.metrics, err);
      return errorResponse(c, err, s.fields);
    }
  }
  const fields = parsed.specs[0]!.fields;
  const id = handles[0]!.id;
  const created = Math.floor(Date.now() / 1000);
  const model = engine.info.id;
  const tok = engine.tokenizer;
  const withLogprobs = parsed.specs[0]!.spec.logprobs ?? false;
  const batch = handles.length > 1 ? handles.map((h) => h.id) : undefined;
  const toolMode = parsed.specs[0]!.toolMode ?? null;

  // The completion id in a header too (as vLLM's X-Request-Id): logs, records and feedback use it.
  c.header('x-request-id', id);
  if (!parsed.stream) return jsonAnswer(c, ctx, ca, Promise.all(handles.map((h) => h.result)), (results) => completionBody(kind, id, model, created, results, tok, withLogprobs, batch, toolMode, ctx.config.reasoningParser), fields);
  return streamSSE(c, async (stream) => {
    stream.onAbort(() => abort.abort());
    const started = new Set<number>();
    // Completions logprobs: each choice's text_offset so far (they count from the start of its text).
    const offsets = new Map<number, number>();
    // Choice index: prompt k's candidate i is k * n + i (OpenAI's order: by prompt, then candidate).
    const perPrompt = handles[0]!.plans.length;
    // Tool mode `required`: each choice's calls, read as its text streams; `auto` and reasoning: each choice's parts.
    const callStreams = new Map<number, ToolCallStream>();
    const answerStreams = new Map<number, ChatAnswerStream>();
    const reasoning = kind === 'chat' ? ctx.config.reasoningParser : undefined;
    // stream_options.continuous_usage_stats (vLLM): every chunk says the usage so far.
    const promptTokens = handles.reduce((n, h) => n + h.promptTokens, 0);
    let generated = 0;
    const send = (chunk: object) => stream.writeSSE({ data: JSON.stringify(parsed.continuousUsage ? { ...chunk, usage: { prompt_tokens: promptTokens, completion_tokens: generated, total_tokens: promptTokens + generated } } : chunk) });
    try {
      for await (const [k, d] of mergeEvents(handles.map((h) => h.events))) {
        generated += d.tokenIds.length;
        const index = k * perPrompt + d.index;
        const plan = handles[k]!.plans[d.index];
        if (toolMode?.kind === 'auto' || (reasoning && !toolMode)) {
          const auto = toolMode?.kind === 'auto' ? toolMode : null;
          if (!answerStreams.has(index)) answerStreams.set(index, new ChatAnswerStream(reasoning, auto));
          const parts = answerStreams.get(index)!.push(d.text, d.finishReason !== undefined);
          const lps = withLogprobs && d.logprobs.length ? chatLogprobs(tok, d.logprobs) : null;
          const first = !started.has(index);
          if (parts.reasoning || parts.content || parts.calls.length || d.finishReason || lps || first) {
            started.add(index);
            await send(answerChunk(id, model, created, index, { ...parts, first, finishReason: d.finishReason, logprobs: lps }, first ? { skip_plan: plan ? planToWire(plan) : null } : {}));
          }
          continue;
        }
        if (toolMode) {
          let events: CallEvent[] | undefined;
          if (toolMode.kind === 'required') {
            if (!callStreams.has(index)) callStreams.set(index, new ToolCallStream());
            events = callStreams.get(index)!.push(d.text);
          }
          const lps = withLogprobs && d.logprobs.length ? chatLogprobs(tok, d.logprobs) : null;
          if ((events ? events.length : d.text) || d.finishReason || lps) {
            const opening = !started.has(index);
            started.add(index);
            const piece = { text: d.text, first: opening, finishReason: d.finishReason, events, logprobs: lps };
            await send(toolCallChunk(id, model, created, index, piece, toolMode, opening ? { skip_plan: plan ? planToWire(plan) : null } : {}));
          }
          continue;
        }
        const first = !started.has(index);
        started.add(index);
        const extras = first ? { skip_plan: plan ? planToWire(plan) : null } : {};
        const echo = first ? handles[k]!.echoedPrompt() : undefined;
        const chunk = deltaChunk(kind, id, model, created, { ...d, index }, first, tok, withLogprobs, extras, echo, offsets.get(index) ?? 0);
        const lp = chunk.choices[0]!.logprobs;
        if (lp && 'text_offset' in lp && lp.tokens.length) offsets.set(index, lp.text_offset.at(-1)! + lp.tokens.at(-1)!.length);
        await send(chunk);
      }
      const results: GenerationResult[] = await Promise.all(handles.map((h) => h.result));
      await stream.writeSSE({ data: JSON.stringify(summaryChunk(kind, id, model, created, results, parsed.includeUsage || parsed.continuousUsage, batch)) });
      await stream.writeSSE({ data: '[DONE]' });
    } catch (err) {
      const gone = abort.signal.aborted;
      abort.abort(); // the batch's other requests
      if (!gone) await stream.writeSSE({ data: JSON.stringify(toHttp(err, fields).body) });
    } finally {
      ca.release();
    }
  });
}
