/**
 * The Hono app: OpenAI-compatible routes plus health, readiness and Prometheus metrics. Every
 * error goes through errors.ts (`toHttp`), so status codes and bodies are the same everywhere.
 */
import { Hono } from 'hono';
import { AuthenticationError, NotFoundError, toHttp } from '../../errors.ts';
import { countEdgeError } from '../../metrics/outcomes.ts';
import type { ApiContext } from '../context.ts';
import { handleGenerate } from './generate-route.ts';

/** Builds the HTTP app over the shared API context. */
export function createHttpApp(ctx: ApiContext): Hono {
  const app = new Hono();

  app.onError((err, c) => {
    if (c.req.path.startsWith('/v1/')) countEdgeError(ctx.metrics, err);
    const { status, body } = toHttp(err);
    return c.json(body, status as 400);
  });
  app.notFound((c) => {
    const { status, body } = toHttp(new NotFoundError(`no route ${c.req.method} ${c.req.path}`));
    return c.json(body, status as 404);
  });

  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/ready', (c) => (ctx.isReady() ? c.json({ status: 'ready' }) : c.json({ status: 'not ready' }, 503)));
  app.get('/metrics', async (c) => {
    const text = await ctx.metrics.registry.metrics();
    return c.body(text, 200, { 'Content-Type': ctx.metrics.registry.contentType });
  });

  app.use('/v1/*', async (c, next) => {
    if (ctx.config.apiKey) {
      const auth = c.req.header('authorization') ?? '';
      if (auth !== `Bearer ${ctx.config.apiKey}`) throw new AuthenticationError('missing or wrong API key: send Authorization: Bearer <key>');
    }
    await next();
  });

  app.get('/v1/models', (c) =>
    c.json({
      object: 'list',
      data: [
        {
          id: ctx.info.id,
          object: 'model',
          created: ctx.startedAt,
          owned_by: 'skipserve',
          max_model_len: ctx.info.maxPositions,
          architecture: ctx.info.architecture,
          skip_policies: ctx.policies.list().map((p) => {
            const why = p.unavailableReason();
            return { name: p.name, description: p.description, available: why === null, ...(why ? { unavailable_reason: why } : {}) };
          }),
          default_policy: ctx.config.defaultPolicy,
        },
      ],
    }),
  );
  app.post('/v1/chat/completions', (c) => handleGenerate(c, ctx, 'chat'));
  app.post('/v1/completions', (c) => handleGenerate(c, ctx, 'text'));
  return app;
}
