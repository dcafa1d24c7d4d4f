/**
 * POST /v1/chat/completions and POST /v1/completions: validate, build the engine request, submit,
 * then answer with one JSON body or an SSE stream (one chunk per candidate delta, each with its
 * choice `index`, a final chunk with the `skip` summary, then `data: [DONE]`). A client that goes
 * away cancels the request, which frees its rows at the engine's next step.
 */
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { randomUUID } from 'node:crypto';
import { InvalidRequestError, toHttp } from '../../errors.ts';
import { planToWire } from '../../plans/plan.ts';
import type { ApiContext } from '../context.ts';
import { buildRequest, type WirePrompt } from '../build-request.ts';
import { ChatRequestSchema, CompletionRequestSchema, parseBody } from '../request-schema.ts';
import { completionBody, deltaChunk, summaryChunk, type Kind } from './openai-format.ts';

/** Reads the JSON body; malformed JSON is a 400 that says so. */
async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidRequestError(`malformed JSON body: ${(err as Error).message}`, null, 'invalid_json');
  }
}

/** Handles one chat or text completion request. */
export async function handleGenerate(c: Context, ctx: ApiContext, kind: Kind): Promise<Response> {
  const raw = await readJson(c);
  let prompt: WirePrompt;
  let logprobs: boolean;
  let topLogprobs: number;
  const body = kind === 'chat' ? parseBody(ChatRequestSchema, raw) : parseBody(CompletionRequestSchema, raw);
  if (kind === 'chat') {
    const b = body as ReturnType<typeof ChatRequestSchema.parse>;
    prompt = { kind: 'chat', messages: b.messages };
    logprobs = b.logprobs ?? false;
    topLogprobs = b.top_logprobs ?? 0;
    if (b.top_logprobs != null && !logprobs) throw new InvalidRequestError('top_logprobs needs logprobs: true', 'top_logprobs');
  } else {
    const b = body as ReturnType<typeof CompletionRequestSchema.parse>;
    prompt = typeof b.prompt === 'string' ? { kind: 'text', text: b.prompt } : typeof b.prompt[0] === 'string' ? { kind: 'text', text: b.prompt[0] as string } : { kind: 'tokens', tokens: b.prompt as number[] };
    logprobs = b.logprobs != null;
    topLogprobs = b.logprobs ?? 0;
  }
  const abort = new AbortController();
  const clientSignal = c.req.raw.signal;
  const onClientGone = () => abort.abort();
  if (clientSignal.aborted) abort.abort();
  else clientSignal.addEventListener('abort', onClientGone, { once: true });
  const key = c.req.header('x-skipserve-key') ?? undefined;
  const req = buildRequest(ctx, body, prompt, { key, signal: abort.signal, logprobs, topLogprobs });
  const handle = await ctx.engine.submit(req);
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replace(/-/g, '')}`;
  const created = Math.floor(Date.now() / 1000);
  const model = ctx.info.id;

  if (!body.stream) {
    try {
      const result = await handle.result;
      return c.json(completionBody(kind, id, model, created, result, ctx.tokenizer, logprobs));
    } finally {
      clientSignal.removeEventListener('abort', onClientGone);
    }
  }
  const includeUsage = body.stream_options?.include_usage ?? false;
  return streamSSE(c, async (stream) => {
    stream.onAbort(() => abort.abort());
    const started = new Set<number>();
    try {
      for await (const d of handle.events) {
        const first = !started.has(d.index);
        started.add(d.index);
        const extras = first ? { skip_plan: handle.plans[d.index] ? planToWire(handle.plans[d.index]!) : null } : {};
        await stream.writeSSE({ data: JSON.stringify(deltaChunk(kind, id, model, created, d, first, ctx.tokenizer, logprobs, extras)) });
      }
      const result = await handle.result;
      await stream.writeSSE({ data: JSON.stringify(summaryChunk(kind, id, model, created, result, includeUsage)) });
      await stream.writeSSE({ data: '[DONE]' });
    } catch (err) {
      if (!abort.signal.aborted) await stream.writeSSE({ data: JSON.stringify(toHttp(err).body) });
    } finally {
      clientSignal.removeEventListener('abort', onClientGone);
    }
  });
}
