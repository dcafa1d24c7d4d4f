/**
 * The stored side of OpenAI's Responses API: GET /v1/responses/{id} (the response as answered, or
 * a background one as it stands), POST /v1/responses/{id}/cancel (a background one),
 * GET /v1/responses/{id}/input_items (its conversation's input items, paged by cursor as OpenAI
 * pages them) and DELETE /v1/responses/{id} (the response with its record and feedback). A
 * response is stored with its record in the request store moments after the answer, unless sent
 * with `store: false`; with `--store off` these answer 501 `store_off`. Store reads run in the
 * store's worker or on its connection pool, never on the event loop; errors are OpenAI bodies
 * naming the field and are not counted as generation requests.
 */
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import type { ApiContext } from '../context.ts';
import { deleteResponse, lookupResponse } from '../records.ts';
import { InvalidRequestError } from '../../errors.ts';
import { answered } from './record-routes.ts';
import { parseBody } from './request-schema.ts';

const RetrieveQuery = z
  .object({
    stream: z.enum(['false'], { error: "a response is sent whole: this server does not keep a response's events to replay them" }).optional(),
    include: z.unknown().optional(),
    'include[]': z.unknown().optional(),
    starting_after: z.unknown().optional(),
  })
  .strict();

const ListQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).optional(),
    order: z.enum(['asc', 'desc']).optional(),
    after: z.string().optional(),
    include: z.unknown().optional(),
    'include[]': z.unknown().optional(),
  })
  .strict();

const query = (c: Context) => c.req.query() as Record<string, string>;

/** Adds the stored-response routes (behind the /v1 API key check). */
export function registerStoredResponseRoutes(app: Hono, ctx: ApiContext): void {
  /** A background response while it runs (or after it failed or was cancelled), else the stored one. */
  const find = async (id: string) => ctx.background.get(id) ?? (await lookupResponse(ctx, id));

  app.get('/v1/responses/:id', (c) =>
    answered(c, async () => {
      parseBody(RetrieveQuery, query(c));
      return c.json((await find(c.req.param('id'))).object as object);
    }),
  );

  app.post('/v1/responses/:id/cancel', (c) =>
    answered(c, async () => {
      const id = c.req.param('id');
      const ended = await ctx.background.cancel(id);
      if (ended) return c.json(ended);
      // It finished before the cancel took (null), or it was not a background response still here: as stored.
      return c.json((await lookupResponse(ctx, id)).object as object);
    }),
  );

  app.get('/v1/responses/:id/input_items', (c) =>
    answered(c, async () => {
      const q = parseBody(ListQuery, query(c));
      const stored = await find(c.req.param('id'));
      const all = (q.order ?? 'desc') === 'desc' ? [...stored.input].reverse() : stored.input;
      const items = all as { id?: string }[];
      let start = 0;
      if (q.after !== undefined) {
        const at = items.findIndex((it) => it.id === q.after);
        if (at < 0) throw new InvalidRequestError(`no input item with id '${q.after}' in response '${c.req.param('id')}'`, 'after');
        start = at + 1;
      }
      const data = items.slice(start, start + (q.limit ?? 20));
      return c.json({ object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: start + data.length < items.length });
    }),
  );

  app.delete('/v1/responses/:id', (c) =>
    answered(c, async () => {
      const id = c.req.param('id');
      if (ctx.background.isRunning(id)) throw new InvalidRequestError(`response '${id}' is still running in the background: cancel it first (POST /v1/responses/${id}/cancel)`, 'id');
      // A failed or cancelled background response has no record: it is forgotten here.
      if (!ctx.background.forget(id)) await deleteResponse(ctx, id);
      return c.json({ id, object: 'response', deleted: true });
    }),
  );
}
