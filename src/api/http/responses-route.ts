/**
 * POST /v1/responses (OpenAI's Responses API, text in and text out): one request through the same
 * engine as chat, answered with a `response` object or, with `stream`, the Responses event stream
 * (`response.created`, `response.in_progress`, the output's events (responses-stream.ts), then
 * `response.completed` or `response.incomplete`; an `error` event if it fails midway). A client
 * that goes away cancels it.
 */
import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { InvalidRequestError } from '../../errors.ts';
import { countEdgeError } from '../../metrics/outcomes.ts';
import { renderPrompt } from '../../engine/render-prompt.ts';
import { checkServedModel } from '../../engine/request-checks.ts';
import type { GenerationResult, RequestSpec } from '../../engine/types.ts';
import type { ApiContext } from '../context.ts';
import { lookupResponse } from '../records.ts';
import { errorResponse, toHttp } from './errors.ts';
import { clientAbort, jsonAnswer } from './client-abort.ts';
import { readJson } from './generate-route.ts';
import { parseBody } from './request-schema.ts';
import { responseObject, type ResponseMeta } from './responses-format.ts';
import { continuedItems, withIds } from './responses-items.ts';
import { streamOutput } from './responses-stream.ts';
import { type InputItemBody, type ResponsesRequestBody, ResponsesRequestSchema, responsesSpec } from './responses-schema.ts';

/** Adds POST /v1/responses (behind the API key check with the other /v1 routes). */
export function registerResponsesRoute(app: Hono, ctx: ApiContext): void {
  app.post('/v1/responses', (c) => handleResponses(c, ctx));
  app.post('/v1/responses/input_tokens', (c) => countInputTokens(c, ctx));
}

/** What a background response needs: to be stored (it is fetched later) and not streamed. */
function checkBackground(ctx: ApiContext, b: ResponsesRequestBody): void {
  if (b.store === false) throw new InvalidRequestError('a background response is fetched later with GET /v1/responses/{id}, so it must be stored (store: true)', 'background');
  if (ctx.store.engine === 'off') throw new InvalidRequestError('this server keeps no responses (--store off), so it cannot run one in the background', 'background', 'store_off');
  if (b.stream) throw new InvalidRequestError('a background response is fetched with GET /v1/responses/{id}; this server does not stream it', 'stream');
}

/**
 * Submits a background response: the engine runs it on, its own cancel signal (not the client's
 * connection) stops it, and the POST is answered at once with the response `queued`.
 */
async function runInBackground(c: Context, ctx: ApiContext, spec: RequestSpec, meta: (id: string) => ResponseMeta, fields: Record<string, string>): Promise<Response> {
  const abort = new AbortController();
  let handle;
  try {
    handle = await ctx.model.submit({ ...spec, signal: abort.signal });
  } catch (err) {
    countEdgeError(ctx.metrics, err);
    return errorResponse(c, err, fields);
  }
  const running = responseObject(meta(handle.id), null);
  ctx.background.start(handle.id, running, spec.keepResponse?.input ?? [], abort, handle.result);
  c.header('x-request-id', handle.id);
  return c.json({ ...running, status: 'queued' });
}

/** The conversation: a previous response's items (read off the event loop, in the store), then the body's input. */
async function conversation(ctx: ApiContext, b: ResponsesRequestBody): Promise<InputItemBody[]> {
  const prev = b.previous_response_id;
  if (prev && ctx.store.engine === 'off') throw new InvalidRequestError('this server keeps no responses (--store off): send the conversation as input instead', 'previous_response_id', 'store_off');
  return [...(prev ? continuedItems(await lookupResponse(ctx, prev, 'previous_response_id'), prev) : []), ...withIds(b.input)];
}

/**
 * POST /v1/responses/input_tokens (the `openai` client's `responses.inputTokens.count`): the tokens
 * the same body's prompt takes, rendered as a response renders it. Not a generation request.
 */
async function countInputTokens(c: Context, ctx: ApiContext): Promise<Response> {
  let fields: Record<string, string> = {};
  try {
    const b = parseBody(ResponsesRequestSchema, await readJson(c));
    checkServedModel(ctx.model.info, b.model);
    const mapped = responsesSpec(b, await conversation(ctx, b), ctx.config.toolCallParser);
    fields = mapped.fields;
    return c.json({ object: 'response.input_tokens', input_tokens: renderPrompt(ctx.model, mapped.spec.prompt).tokens.length });
  } catch (err) {
    return errorResponse(c, err, fields);
  }
}

async function handleResponses(c: Context, ctx: ApiContext): Promise<Response> {
  const receivedAt = performance.now();
  const createdAt = Math.floor(Date.now() / 1000);
  const b = parseBody(ResponsesRequestSchema, await readJson(c));
  const stream = b.stream ?? false;
  if (stream && (b.n ?? 1) > 1) throw new InvalidRequestError('a streamed response carries one message, and which of n > 1 candidates is selected is known only at the end; send n > 1 without stream', 'n');
  if (b.background) checkBackground(ctx, b);
  const items = await conversation(ctx, b);
  const { spec, toolMode, fields } = responsesSpec(b, items, ctx.config.toolCallParser);
  const engine = ctx.model;
  const meta = (id: string): ResponseMeta => ({ id, createdAt, model: engine.info.id, body: b, messageId: `msg_${id.slice('resp_'.length)}`, tok: engine.tokenizer, withLogprobs: spec.logprobs ?? false, toolMode, ...(ctx.config.reasoningParser ? { reasoning: ctx.config.reasoningParser } : {}) });
  const keepResponse = b.store === false ? undefined : { input: items, object: (id: string, r: GenerationResult) => responseObject(meta(id), r) };
  if (b.background) return runInBackground(c, ctx, { ...spec, api: 'responses', stream: false, key: c.req.header('x-skipserve-key') ?? undefined, receivedAt, ...(keepResponse ? { keepResponse } : {}) }, meta, fields);
  const ca = clientAbort(c);
  const { abort } = ca;
  let handle;
  try {
    handle = await engine.submit({ ...spec, api: 'responses', stream, key: c.req.header('x-skipserve-key') ?? undefined, signal: abort.signal, receivedAt, ...(keepResponse ? { keepResponse } : {}) });
  } catch (err) {
    ca.release();
    countEdgeError(ctx.metrics, err);
    return errorResponse(c, err, fields);
  }
  const m = meta(handle.id);

  c.header('x-request-id', handle.id);
  if (!stream) return jsonAnswer(c, ctx, ca, handle.result, (r) => responseObject(m, r), fields);
  return streamSSE(c, async (sse) => {
    sse.onAbort(() => abort.abort());
    let sequence = 0;
    const send = (type: string, payload: Record<string, unknown>) => sse.writeSSE({ event: type, data: JSON.stringify({ type, sequence_number: sequence++, ...payload }) });
    try {
      await send('response.created', { response: responseObject(m, null) });
      await send('response.in_progress', { response: responseObject(m, null) });
      const final = await streamOutput(m, handle.events, handle.result, send);
      await send(final.status === 'completed' ? 'response.completed' : 'response.incomplete', { response: final });
    } catch (err) {
      const gone = abort.signal.aborted;
      abort.abort();
      if (!gone) {
        const e = toHttp(err, fields).body.error;
        await send('error', { code: e.code, message: e.message, param: e.param });
      }
    } finally {
      ca.release();
    }
  });
}
