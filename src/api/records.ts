/**
 * What GET /v1/requests/{id}, POST /v1/feedback and their gRPC twins do, once for both transports:
 * read a record with its feedback, and store feedback durably (the answer is sent only after the
 * commit), with store results turned into domain errors naming the field. A store that does not
 * answer within --store-timeout (a database that hangs: a lock held elsewhere, a network partition,
 * a stalled disk) fails the call with 503 instead of leaving the client waiting.
 */
import { DisabledError, InvalidRequestError, NotFoundError, UnavailableError } from '../errors.ts';
import type { FeedbackInput, StoredRecord, StoredResponse } from '../store/types.ts';
import type { ApiContext } from './context.ts';

/** What the record routes answer with `--store off` (HTTP 501, gRPC UNIMPLEMENTED, code store_off). */
function storeOff(): DisabledError {
  return new DisabledError('the request store is off on this server (--store off): records, feedback and versions are not kept', 'store_off');
}

/** The store did not answer within --store-timeout (what it was asked may still happen). */
class StoreTimeout extends Error {}

/** Resolves as `p` does, or rejects once the store has not answered within --store-timeout (0: waits). */
function storeDeadline<T>(ctx: ApiContext, p: Promise<T>): Promise<T> {
  const s = ctx.config.storeTimeout;
  if (!(s > 0)) return p;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreTimeout(`the store did not answer within ${s} s (--store-timeout)`)), s * 1000);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Reads a record (null when unknown) within --store-timeout; an UnavailableError when the store fails. */
async function readRecord(ctx: ApiContext, id: string): Promise<StoredRecord | null> {
  if (ctx.store.engine === 'off') throw storeOff();
  try {
    return await storeDeadline(ctx, ctx.store.getRecord(id));
  } catch (err) {
    throw new UnavailableError(`the store could not be read: ${(err as Error).message}`);
  }
}

/** The record of completion `id` with its feedback; NotFoundError for an unknown id. */
export async function lookupRecord(ctx: ApiContext, id: string): Promise<StoredRecord> {
  const rec = await readRecord(ctx, id);
  if (!rec) throw new NotFoundError(`no recorded completion with id '${id}'`, 'id');
  return rec;
}

/**
 * The stored Responses API answer `id`; a NotFoundError naming `field` when there is none (an
 * unknown id, a completion of another API, or a response sent with `store: false`).
 */
export async function lookupResponse(ctx: ApiContext, id: string, field = 'id'): Promise<StoredResponse> {
  const rec = await readRecord(ctx, id);
  if (!rec?.response) throw new NotFoundError(`no stored response with id '${id}' (responses are stored moments after the answer, unless sent with store: false)`, field);
  return rec.response;
}

/** Deletes the stored Responses API answer `id` with its record and feedback; NotFoundError when there is none. */
export async function deleteResponse(ctx: ApiContext, id: string): Promise<void> {
  await lookupResponse(ctx, id);
  let deleted: boolean;
  try {
    deleted = await storeDeadline(ctx, ctx.store.deleteRecord(id));
  } catch (err) {
    throw new UnavailableError(`the response was not deleted: ${(err as Error).message}`);
  }
  if (!deleted) throw new NotFoundError(`no stored response with id '${id}'`, 'id');
}

/**
 * Stores one feedback and resolves once it is durable: `replaced` when the same source had sent
 * feedback on this completion before (the new one wins). Bad fields are InvalidRequestErrors naming
 * them; an unknown id is a NotFoundError; a store failure is an UnavailableError (nothing was kept).
 */
export async function submitFeedback(ctx: ApiContext, input: FeedbackInput): Promise<{ replaced: boolean }> {
  if (ctx.store.engine === 'off') throw storeOff();
  let r: Awaited<ReturnType<typeof ctx.store.addFeedback>>;
  try {
    r = await storeDeadline(ctx, ctx.store.addFeedback(input));
  } catch (err) {
    // After a timeout the write may still land: a repeat from the same source replaces it, so a retry is safe.
    if (err instanceof StoreTimeout) throw new UnavailableError(`${err.message}: the feedback may not be stored; sending it again is safe (a repeat from the same source replaces it)`);
    throw new UnavailableError(`the feedback was not stored: ${(err as Error).message}`);
  }
  switch (r.status) {
    case 'stored':
      return { replaced: r.replaced };
    case 'not_found':
      throw new NotFoundError(`no recorded completion with id '${input.id}' (records are written moments after the answer: retry shortly)`, 'id');
    case 'invalid':
      throw new InvalidRequestError(r.message, r.field);
  }
}
