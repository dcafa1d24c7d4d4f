/**
 * POST /v1/chat/completions and POST /v1/completions: parse the body, map it to a RequestSpec,
 * submit, then answer with one JSON body or an SSE stream (one chunk per candidate delta, each with
 * its choice `index`, a final chunk with the `skip` summary, then `data: [DONE]`). A client that goes
 * away cancels the request, which frees its rows at the engine's next step.
 */
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { InvalidRequestError } from '../../errors.ts';
import { countEdgeError } from '../../metrics/outcomes.ts';
import { planToWire } from '../../plans/plan.ts';
import type { ApiContext } from '../context.ts';
import { errorResponse, toHttp } from './errors.ts';
import { completionBody, deltaChunk, summaryChunk, type Kind } from './openai-format.ts';
import { ChatRequestSchema, CompletionRequestSchema, parseBody } from './request-schema.ts';
import { chatSpec, completionSpec, type HttpSpec } from './to-request-spec.ts';

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
  const raw = await readJson(c);
  const parsed: HttpSpec & { stream: boolean; includeUsage: boolean } =
    kind === 'chat'
      ? (() => {
          const b = parseBody(ChatRequestSchema, raw);
          return { ...chatSpec(b), stream: b.stream ?? false, includeUsage: b.stream_options?.include_usage ?? false };
        })()
      : (() => {
          const b = parseBody(CompletionRequestSchema, raw);
          if (b.echo && b.stream) throw new InvalidRequestError('echo is not supported with stream: send it without stream', 'echo');
          return { ...completionSpec(b), stream: b.stream ?? false, includeUsage: b.stream_options?.include_usage ?? false };
        })();
  const abort = new AbortController();
  const clientSignal = c.req.raw.signal;
  const onClientGone = () => abort.abort();
  if (clientSignal.aborted) abort.abort();
  else clientSignal.addEventListener('abort', onClientGone, { once: true });
  const spec = { ...parsed.spec, stream: parsed.stream, key: c.req.header('x-skipserve-key') ?? undefined, signal: abort.signal };
  // The engine serving now; this request stays on it (and on its versions) even if a reload swaps it.
  const engine = ctx.model;
  let handle;
  try {
    handle = await engine.submit(spec);
  } catch (err) {
    clientSignal.removeEventListener('abort', onClientGone);
    countEdgeError(ctx.metrics, err);
    return errorResponse(c, err, parsed.fields);
  }
  const id = handle.id;
  const created = Math.floor(Date.now() / 1000);
  const model = engine.info.id;
  const tok = engine.tokenizer;
  const withLogprobs = spec.logprobs ?? false;

  if (!parsed.stream) {
    try {
      const result = await handle.result;
      return c.json(completionBody(kind, id, model, created, result, tok, withLogprobs));
    } catch (err) {
      countEdgeError(ctx.metrics, err);
      return errorResponse(c, err, parsed.fields);
    } finally {
      clientSignal.removeEventListener('abort', onClientGone);
    }
  }
  return streamSSE(c, async (stream) => {
    stream.onAbort(() => abort.abort());
    const started = new Set<number>();
    try {
      for await (const d of handle.events) {
        const first = !started.has(d.index);
        started.add(d.index);
        const extras = first ? { skip_plan: handle.plans[d.index] ? planToWire(handle.plans[d.index]!) : null } : {};
        await stream.writeSSE({ data: JSON.stringify(deltaChunk(kind, id, model, created, d, first, tok, withLogprobs, extras)) });
      }
      const result = await handle.result;
      await stream.writeSSE({ data: JSON.stringify(summaryChunk(kind, id, model, created, result, parsed.includeUsage)) });
      await stream.writeSSE({ data: '[DONE]' });
    } catch (err) {
      if (!abort.signal.aborted) await stream.writeSSE({ data: JSON.stringify(toHttp(err, parsed.fields).body) });
    } finally {
      clientSignal.removeEventListener('abort', onClientGone);
    }
  });
}
