/**
 * GET /openapi.json: an OpenAPI 3.1 description of the HTTP API, as vLLM's server publishes one.
 * Request bodies are the zod schemas the routes parse with (converted by zod's own JSON Schema
 * export), so the document cannot drift from what the server accepts; test/api-openapi.test.ts
 * checks that every route the app serves is in it.
 */
import { z } from 'zod';
import { ReloadSchema } from './admin-routes.ts';
import { EmbeddingsSchema } from './embeddings-route.ts';
import { FeedbackSchema } from './record-routes.ts';
import { ChatRequestSchema, CompletionRequestSchema } from './request-schema.ts';
import { ResponsesRequestSchema } from './responses-schema.ts';
import { DetokenizeSchema, TokenizeSchema } from './tokenize-routes.ts';

const ERROR = {
  type: 'object',
  properties: { error: { type: 'object', properties: { message: { type: 'string' }, type: { type: 'string' }, param: { type: ['string', 'null'] }, code: { type: ['string', 'null'] } }, required: ['message', 'type', 'param', 'code'] } },
  required: ['error'],
};

function jsonSchema(schema: z.ZodType): object {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

/** One operation: its summary, its request body (a zod schema), the errors it answers besides 200. */
function op(summary: string, body: z.ZodType | null, errors: number[], open = false) {
  const response = (code: number) => [String(code), code === 200 ? { description: 'OK' } : { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }];
  return {
    summary,
    ...(body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(body) } } } } : {}),
    responses: Object.fromEntries([200, ...errors].map(response)),
    ...(open ? { security: [] } : {}),
  };
}

const GENERATE = [400, 401, 404, 413, 429, 503];

/** The document (built once per server). */
export function openApiDocument(version: string): object {
  const idParam = (name: string) => [{ name, in: 'path', required: true, schema: { type: 'string' } }];
  return {
    openapi: '3.1.0',
    info: { title: 'skipserve', version, description: 'OpenAI-compatible inference with per-request skip plans and best-of-N (README.md: HTTP).' },
    components: { schemas: { Error: ERROR }, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths: {
      '/v1/chat/completions': { post: op('Chat completion (streamed with stream: true)', ChatRequestSchema, GENERATE) },
      '/v1/completions': { post: op('Text completion, one prompt or a batch', CompletionRequestSchema, GENERATE) },
      '/v1/responses': { post: op("OpenAI's Responses API, text in and out", ResponsesRequestSchema, GENERATE) },
      '/v1/responses/input_tokens': { post: op('The tokens a response body\'s prompt takes', ResponsesRequestSchema, [400, 401, 404, 501, 503]) },
      '/v1/responses/{id}': {
        get: { ...op('A stored response, as it was answered', null, [400, 401, 404, 501, 503]), parameters: idParam('id') },
        delete: { ...op('Deletes a stored response with its record and feedback', null, [401, 404, 501, 503]), parameters: idParam('id') },
      },
      '/v1/responses/{id}/cancel': { post: { ...op('Cancels a background response while it runs', null, [401, 404, 501, 503]), parameters: idParam('id') } },
      '/v1/responses/{id}/input_items': { get: { ...op("A stored response's input items (query: limit 1-100, order asc | desc, after)", null, [400, 401, 404, 501, 503]), parameters: idParam('id') } },
      '/v1/embeddings': { post: op('Embeddings: pooled hidden states after the embedding layer', EmbeddingsSchema, [400, 401, 404, 413, 429, 503]) },
      '/v1/models': { get: op('The served model', null, [401]) },
      '/v1/models/{id}': { get: { ...op('The served model by id', null, [401, 404]), parameters: idParam('id') } },
      '/v1/requests/{id}': { get: { ...op("A completion's record and its feedback", null, [401, 404, 503]), parameters: idParam('id') } },
      '/v1/feedback': { post: op('Feedback on a completion', FeedbackSchema, [400, 401, 404, 503]) },
      '/tokenize': { post: op('Prompt or messages to token ids', TokenizeSchema, [400, 401, 404]) },
      '/detokenize': { post: op('Token ids to text', DetokenizeSchema, [400, 401, 404]) },
      '/admin/reload': { post: op('Load other model or selector versions without a restart', ReloadSchema, [400, 401, 409, 503]) },
      '/health': { get: op('Liveness', null, [503], true) },
      '/ready': { get: op('Readiness', null, [503], true) },
      '/metrics': { get: op('Prometheus metrics (behind the key with --metrics-auth)', null, [401], true) },
      '/openapi.json': { get: op('This document', null, [], true) },
      '/version': { get: op("The server's and onnxruntime's versions", null, [], true) },
    },
  };
}
