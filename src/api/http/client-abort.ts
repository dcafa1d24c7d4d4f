/**
 * A generation request's life as its HTTP client sees it: an AbortController that the client's
 * going away aborts (the engine frees the request's rows at its next step), and the one way a
 * whole (unstreamed) answer or its error goes out.
 */
import type { Context } from 'hono';
import { countEdgeError } from '../../metrics/outcomes.ts';
import type { ApiContext } from '../context.ts';
import { errorResponse } from './errors.ts';

export interface ClientAbort {
  abort: AbortController;
  /** Stops listening for the client (once the answer is out). */
  release(): void;
}

export function clientAbort(c: Context): ClientAbort {
  const abort = new AbortController();
  const signal = c.req.raw.signal;
  const gone = () => abort.abort();
  if (signal.aborted) abort.abort();
  else signal.addEventListener('abort', gone, { once: true });
  return { abort, release: () => signal.removeEventListener('abort', gone) };
}

/** Answers `build(await result)` as JSON; a failure aborts the request, is counted at the edge and answered (`fields`: wire names). */
export async function jsonAnswer<T>(c: Context, ctx: ApiContext, ca: ClientAbort, result: Promise<T>, build: (r: T) => object, fields?: Record<string, string>): Promise<Response> {
  try {
    return c.json(build(await result));
  } catch (err) {
    ca.abort.abort();
    countEdgeError(ctx.metrics, err);
    return errorResponse(c, err, fields);
  } finally {
    ca.release();
  }
}
