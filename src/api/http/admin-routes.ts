/**
 * POST /admin/reload (behind the API key): loads the store's promoted model and selector versions,
 * or the ones the body names (`{"model": NAME, "selector": NAME}`), without a restart. Requests in
 * flight finish on the version they started on; the answer says what changed and what serves now.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import { describeVersions } from '../../versions/reloader.ts';
import type { ApiContext } from '../context.ts';
import { errorResponse } from './errors.ts';
import { readJson } from './generate-route.ts';
import { parseBody } from './request-schema.ts';

export const ReloadSchema = z.object({ model: z.string().min(1).optional(), selector: z.string().min(1).optional() }).strict();

/** Adds the admin routes. */
export function registerAdminRoutes(app: Hono, ctx: ApiContext): void {
  app.post('/admin/reload', async (c) => {
    try {
      const text = await c.req.text();
      const named = text.trim() === '' ? {} : parseBody(ReloadSchema, await readJson(c));
      const r = await ctx.reloader.reload(named);
      return c.json({ changed: r.changed, ...versionsWire(r.versions), previous: versionsWire(r.previous) });
    } catch (err) {
      return errorResponse(c, err);
    }
  });

  /** The served versions in wire form. */
  function versionsWire(v: Parameters<typeof describeVersions>[0]) {
    const d = describeVersions(v);
    return { model_version: d.model, model_hash: v.model.hash, selector_version: v.selector ? d.selector : null, selector_hash: v.selector?.hash ?? null };
  }
}
