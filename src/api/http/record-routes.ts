/**
 * GET /v1/requests/{id}: what was served for a completion (prompt, policy and arm, versions, every
 * choice with its plan, answer and score, the selection, diversity, speedup, timings) with its
 * feedback. POST /v1/feedback: `{id, source, answer | labels | score}`, answered only once the
 * feedback is durable; a repeat from the same source replaces the earlier one. Errors use the
 * OpenAI body naming the field; they are not counted as generation requests.
 */
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import type { FeedbackInput } from '../../store/types.ts';
import type { ApiContext } from '../context.ts';
import { recordToWire } from '../record-wire.ts';
import { lookupRecord, submitFeedback } from '../records.ts';
import { errorResponse } from './errors.ts';
import { readJson } from './generate-route.ts';
import { parseBody } from './request-schema.ts';

export const FeedbackSchema = z
  .object({
    id: z.string(),
    source: z.string(),
    answer: z.union([z.string(), z.number()]).optional(),
    labels: z.array(z.boolean()).optional(),
    score: z.number().optional(),
  })
  .strict();

/** Runs a handler; its errors become OpenAI error responses (outside the generation request counters). */
export async function answered(c: Context, fn: () => Promise<Response>): Promise<Response> {
  try {
    return await fn();
  } catch (err) {
    return errorResponse(c, err);
  }
}

/** Adds the record and feedback routes (behind the /v1 API key check). */
export function registerRecordRoutes(app: Hono, ctx: ApiContext): void {
  app.get('/v1/requests/:id', (c) => answered(c, async () => c.json(recordToWire(await lookupRecord(ctx, c.req.param('id'))))));

  app.post('/v1/feedback', (c) =>
    answered(c, async () => {
      const b = parseBody(FeedbackSchema, await readJson(c));
      const input = { id: b.id, source: b.source, answer: b.answer === undefined ? undefined : String(b.answer), labels: b.labels, score: b.score } as FeedbackInput;
      const { replaced } = await submitFeedback(ctx, input);
      return c.json({ object: 'feedback', id: b.id, source: b.source, replaced });
    }),
  );
}
