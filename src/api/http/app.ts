/**
 * The Hono app: OpenAI-compatible routes (chat, completions, responses, embeddings, models),
 * tokenize, the request records and feedback, the admin reload, plus health, readiness, version,
 * the OpenAPI document and Prometheus metrics, and CORS when origins are allowed. Every error goes through errors.ts (`toHttp`), so status
 * codes and bodies are the same everywhere.
 */
import { createRequire } from 'node:module';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { drainRefusedBody } from './drain-refused-body.ts';
import { NotFoundError, PayloadTooLargeError } from '../../errors.ts';
import { countEdgeError } from '../../metrics/outcomes.ts';
import { checkServedModel } from '../../engine/request-checks.ts';
import { describeVersions } from '../../versions/reloader.ts';
import { authorize, describePolicies, type ApiContext } from '../context.ts';
import { registerAdminRoutes } from './admin-routes.ts';
import { errorResponse } from './errors.ts';
import { registerTokenizeRoutes } from './tokenize-routes.ts';
import { registerEmbeddingsRoute } from './embeddings-route.ts';
import { registerResponsesRoute } from './responses-route.ts';
import { registerStoredResponseRoutes } from './responses-store-routes.ts';
import { openApiDocument } from './openapi.ts';
import { handleGenerate } from './generate-route.ts';
import { registerRecordRoutes } from './record-routes.ts';
import { samplingDefaultsToWire } from '../../model/sampling-defaults.ts';

const requireJson = createRequire(import.meta.url);
const PACKAGE_VERSION = (requireJson('../../../package.json') as { version: string }).version;
const ORT_VERSION = (requireJson('onnxruntime-node/package.json') as { version: string }).version;

/** Builds the HTTP app over the shared API context. */
export function createHttpApp(ctx: ApiContext): Hono {
  const app = new Hono();
  const metrics = ctx.metrics;

  // CORS first (Hono runs handlers in the order they are added): every route answers it, and a
  // browser's preflight (OPTIONS, no key) is answered before the key check.
  if (ctx.config.allowedOrigins.length) {
    const origins = ctx.config.allowedOrigins;
    app.use('*', cors({ origin: origins.includes('*') ? '*' : origins, allowMethods: ['GET', 'POST', 'OPTIONS'], allowHeaders: ['Authorization', 'Content-Type', 'x-skipserve-key'], exposeHeaders: ['Retry-After'], maxAge: 600 }));
  }
  app.onError((err, c) => {
    if (c.req.path.startsWith('/v1/')) countEdgeError(metrics, err);
    return errorResponse(c, err);
  });
  app.notFound((c) => errorResponse(c, new NotFoundError(`no route ${c.req.method} ${c.req.path}`)));

  app.get('/health', (c) => {
    const why = ctx.unhealthyReason();
    return why === null ? c.json({ status: 'ok' }) : c.json({ status: 'unhealthy', reason: why }, 503);
  });
  app.get('/ready', (c) => {
    const why = ctx.notReadyReason();
    return why === null ? c.json({ status: 'ready' }) : c.json({ status: 'not ready', reason: why }, 503);
  });
  app.get('/version', (c) => c.json({ version: PACKAGE_VERSION, onnxruntime: ORT_VERSION }));
  let openapi: object | null = null;
  app.get('/openapi.json', (c) => c.json((openapi ??= openApiDocument(PACKAGE_VERSION))));
  app.get('/metrics', async (c) => {
    if (ctx.config.metricsAuth) authorize(ctx, c.req.header('authorization'));
    metrics.storePending.set(ctx.store.stats().pending);
    return c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType });
  });

  const auth = async (c: { req: { header(name: string): string | undefined } }, next: () => Promise<void>) => {
    authorize(ctx, c.req.header('authorization'));
    await next();
  };
  // A body past the limit is refused before it is parsed (and before any prompt is tokenized); what
  // arrives of it is read and dropped first, within bounds, so the 413 reaches the client.
  const limit = bodyLimit({
    maxSize: ctx.config.maxBodyBytes,
    onError: async (c) => {
      await drainRefusedBody(c.req.raw.body);
      throw new PayloadTooLargeError(`the request body is larger than ${ctx.config.maxBodyBytes} bytes (the server's --max-body-bytes)`);
    },
  });
  app.use('/v1/*', auth, limit);
  app.use('/admin/*', auth, limit);
  app.use('/tokenize', auth, limit);
  app.use('/detokenize', auth, limit);

  /** The served model as OpenAI's model object, with its versions and skip policies. */
  const modelObject = (id = ctx.model.info.id) => {
    const model = ctx.model;
    const v = model.versions;
    return {
      id,
      object: 'model',
      created: ctx.startedAt,
      owned_by: 'skipserve',
      max_model_len: model.info.maxPositions,
      architecture: model.info.architecture,
      // The model's generation config, filling the sampling fields a request leaves out (--generation-config auto).
      ...(model.limits.samplingDefaults ? { default_sampling_params: samplingDefaultsToWire(model.limits.samplingDefaults) } : {}),
      model_version: describeVersions(v).model,
      model_hash: v.model.hash,
      selector_version: v.selector ? describeVersions(v).selector : null,
      selector_hash: v.selector?.hash ?? null,
      skip_policies: describePolicies(model).map((p) => ({ name: p.name, description: p.description, available: p.available, ...(p.reason ? { unavailable_reason: p.reason } : {}) })),
      default_policy: model.defaultPolicy,
    };
  };
  // One entry per name the model answers to (vLLM's --served-model-name), the model id first.
  app.get('/v1/models', (c) => c.json({ object: 'list', data: [ctx.model.info.id, ...(ctx.model.info.aliases ?? [])].map((id) => modelObject(id)) }));
  // OpenAI's retrieve-model route (`client.models.retrieve(id)`); ids may hold '/' (`org/name`).
  app.get('/v1/models/:id{.+}', (c) => {
    try {
      checkServedModel(ctx.model.info, c.req.param('id'));
    } catch (err) {
      return errorResponse(c, err); // a lookup, not a generation request: not counted
    }
    return c.json(modelObject(c.req.param('id')));
  });
  app.post('/v1/chat/completions', (c) => handleGenerate(c, ctx, 'chat'));
  app.post('/v1/completions', (c) => handleGenerate(c, ctx, 'text'));
  registerResponsesRoute(app, ctx);
  registerEmbeddingsRoute(app, ctx);
  registerTokenizeRoutes(app, ctx);
  registerRecordRoutes(app, ctx);
  registerStoredResponseRoutes(app, ctx);
  registerAdminRoutes(app, ctx);
  return app;
}
