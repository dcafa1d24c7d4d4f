// GET /openapi.json: an OpenAPI 3.1 document whose paths are exactly the routes the app serves and
// whose request bodies are the schemas the routes parse with (a body it describes is accepted).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHttpApp } from '../src/api/http/app.ts';
import { startTestServer, type TestServer } from './helpers/start-server.ts';

let server: TestServer;

before(async () => {
  server = await startTestServer({ apiKey: 'k' });
});
after(async () => {
  await server?.close();
});

test('the document lists every route the app serves, with its method, and needs no key', async () => {
  const r = await fetch(`${server.http}/openapi.json`);
  assert.equal(r.status, 200);
  const doc = (await r.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
  assert.equal(doc.openapi, '3.1.0');
  const served = createHttpApp(server.ctx)
    .routes.filter((x) => x.method !== 'ALL')
    .map((x) => `${x.method} ${x.path.replace(/:(\w+)(\{[^}]*\})?/g, '{$1}')}`);
  const described = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).filter((m) => m !== 'parameters').map((m) => `${m.toUpperCase()} ${path}`));
  assert.deepEqual([...new Set(served)].sort(), described.sort());
  const v = (await (await fetch(`${server.http}/version`)).json()) as { version: string; onnxruntime: string };
  assert.match(v.version, /^\d+\.\d+\.\d+/);
  assert.match(v.onnxruntime, /^\d+\.\d+\.\d+/);
});

test("a request body's schema is the one its route parses with: its properties are the fields the route takes", async () => {
  const doc = (await (await fetch(`${server.http}/openapi.json`)).json()) as { paths: Record<string, { post?: { requestBody: { content: { 'application/json': { schema: { properties: Record<string, unknown>; required?: string[] } } } } } }> };
  const chat = doc.paths['/v1/chat/completions']!.post!.requestBody.content['application/json'].schema;
  for (const f of ['messages', 'n', 'skip', 'response_format', 'tools', 'min_tokens', 'priority']) assert.ok(f in chat.properties, f);
  assert.deepEqual(chat.required, ['messages']);
  const responses = doc.paths['/v1/responses']!.post!.requestBody.content['application/json'].schema;
  assert.ok('input' in responses.properties && 'max_output_tokens' in responses.properties);
});
