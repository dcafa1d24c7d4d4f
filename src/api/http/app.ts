/**
 * The Hono app: OpenAI-compatible routes plus health, readiness and Prometheus metrics. Every
 * error goes through errors.ts (`toHttp`), so status codes and bodies are the same everywhere.
 */
import { Hono } from 'hono';
import { AuthenticationError, NotFoundError } from '../../errors.ts';
import { countEdgeError } from '../../metrics/outcomes.ts';
import { describePolicies, type ApiContext } from '../context.ts';
import { errorResponse } from './errors.ts';
import { handleGenerate } from './generate-route.ts';

/** Builds the HTTP app over the shared API context. */
export function createHttpApp(ctx: ApiContext): Hono {
  const app = new Hono();
  const metrics = ctx.model.metrics;

  app.onError((err, c) => {
    if (c.req.path.startsWith('/v1/')) countEdgeError(metrics, err);
    return errorResponse(c, err);
  });
  app.notFound((c) => errorResponse(c, new NotFoundError(`no route ${c.req.method} ${c.req.path}`)));

  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/ready', (c) => {
    const why = ctx.notReadyReason();
    return why === null ? c.json({ status: 'ready' }) : c.json({ status: 'not ready', reason: why }, 503);
  });
  app.get('/metrics', async (c) => c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }));

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
          id: ctx.model.info.id,
          object: 'model',
          created: ctx.startedAt,
          owned_by: 'skipserve',
          max_model_len: ctx.model.info.maxPositions,
          architecture: ctx.model.info.architecture,
          skip_policies: describePolicies(ctx).map((p) => ({ name: p.name, description: p.description, available: p.available, ...(p.reason ? { unavailable_reason: p.reason } : {}) })),
          default_policy: ctx.model.defaultPolicy,
        },
      ],
    }),
  );
  app.post('/v1/chat/completions', (c) => handleGenerate(c, ctx, 'chat'));
  app.post('/v1/completions', (c) => handleGenerate(c, ctx, 'text'));
  return app;
}
