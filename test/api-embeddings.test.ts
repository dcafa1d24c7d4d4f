// POST /v1/embeddings end to end: the real server on loopback (a random-weight model), called with
// the `openai` client (which asks for base64 and decodes it), plain fetch (float) and grpc-js; each
// vector checked against the float64 reference's hidden state after the embedding layer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import * as grpc from '@grpc/grpc-js';
import type { EmbedRequestMsg, EmbedResponseMsg } from '../src/api/grpc/messages.ts';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { ReferenceModel } from '../src/model/reference.ts';
import { FULL_PLAN } from '../src/plans/plan.ts';
import { startTestServer, testCheckpoint, type TestServer } from './helpers/start-server.ts';
import { inferenceClient } from './helpers/grpc-client.ts';

let server: TestServer;
let client: OpenAI;

before(async () => {
  server = await startTestServer();
  client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'none', maxRetries: 0 });
});
after(async () => {
  await server?.close();
});

const post = async (path: string, body: unknown) => {
  const r = await fetch(`${server.http}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
};

/** The float64 reference: the hidden state after the embedding layer, mean-pooled, unit length. */
function referenceEmbedding(tokens: number[]): number[] {
  const ck = openCheckpoint(testCheckpoint());
  const layer = server.ctx.model.info.embedLayer ?? Math.floor(server.ctx.model.info.numLayers / 2);
  const h = new ReferenceModel(ck).hidden(tokens, FULL_PLAN, layer);
  const mean = h[0]!.map((_, i) => h.reduce((s, x) => s + x[i]!, 0) / h.length);
  const norm = Math.sqrt(mean.reduce((s, x) => s + x * x, 0));
  return Array.from(mean, (x) => x / norm);
}

test('the openai client (base64) and float JSON give the same unit vector: the reference model\'s pooled hidden state (fed in chunks of --prefill-chunk 16)', async () => {
  const text = 'Tom has 3 apples. He buys 5 more. How many does he have now?';
  const viaClient = await client.embeddings.create({ model: server.ctx.model.info.id, input: text });
  const v = viaClient.data[0]!.embedding;
  assert.equal(v.length, server.ctx.model.info.hiddenSize);
  const float = (await post('/v1/embeddings', { input: text, encoding_format: 'float' })).body;
  assert.deepEqual(float.data[0].embedding, v, 'base64 decodes to the same float32 values');
  assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5, 'unit length');
  const { tokens } = (await post('/tokenize', { prompt: text })).body as { tokens: number[] };
  assert.equal(viaClient.usage.prompt_tokens, tokens.length);
  assert.ok(tokens.length > 3 * 16, 'several prefill chunks');
  const ref = referenceEmbedding(tokens);
  const worst = Math.max(...v.map((x, i) => Math.abs(x - ref[i]!)));
  assert.ok(worst < 1e-4, `max |onnxruntime - float64 reference| = ${worst}`);
});

test('several inputs (texts and token lists) come back in order, each as it is alone', async () => {
  const inputs = ['one', 'two apples', 'three'];
  const batch = await client.embeddings.create({ model: server.ctx.model.info.id, input: inputs });
  assert.deepEqual(batch.data.map((d) => d.index), [0, 1, 2]);
  for (const [i, text] of inputs.entries()) assert.deepEqual(batch.data[i]!.embedding, (await client.embeddings.create({ model: server.ctx.model.info.id, input: text })).data[0]!.embedding);
  const { tokens } = (await post('/tokenize', { prompt: 'two apples' })).body as { tokens: number[] };
  const byIds = await client.embeddings.create({ model: server.ctx.model.info.id, input: [tokens, tokens.slice(0, 3)] });
  assert.deepEqual(byIds.data[0]!.embedding, batch.data[1]!.embedding, 'token ids embed as their text does');
  assert.equal(byIds.usage.prompt_tokens, tokens.length + 3);
  assert.notDeepEqual(byIds.data[1]!.embedding, byIds.data[0]!.embedding);
});

test('generation runs beside embeddings', async () => {
  const [gen, emb] = await Promise.all([
    client.completions.create({ model: server.ctx.model.info.id, prompt: 'Q: 2+2? A:', max_tokens: 16, temperature: 0, ignore_eos: true } as OpenAI.CompletionCreateParamsNonStreaming),
    client.embeddings.create({ model: server.ctx.model.info.id, input: Array.from({ length: 20 }, (_, i) => `text ${i}`) }),
  ]);
  assert.equal(gen.usage!.completion_tokens, 16);
  assert.equal(emb.data.length, 20);
});

test('bad input is a 400 naming the field', async () => {
  const bad = async (body: Record<string, unknown>, param: string, status = 400) => {
    const r = await post('/v1/embeddings', body);
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.error.param, param, JSON.stringify(r.body));
  };
  await bad({ input: '' }, 'input');
  await bad({ input: ['a', ''] }, 'input[1]');
  await bad({ input: [1, 99999] }, 'input[1]');
  await bad({ input: [[1], [2, -1]] }, 'input[1][1]');
  await bad({ input: 'a', dimensions: 7 }, 'dimensions');
  await bad({ input: 'a', encoding_format: 'hex' }, 'encoding_format');
  await bad({ input: Array.from({ length: 129 }, () => 'a') }, 'input');
  await bad({ input: 'x'.repeat(300) }, 'input');
  await bad({ input: 'a', model: 'other' }, 'model', 404);
  await bad({ input: 'a', pooling: 'cls' }, 'pooling');
  await bad({}, 'input');
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.match(metrics, /skipserve_embedding_requests_total\{outcome="invalid"\} [1-9]/);
  assert.match(metrics, /skipserve_embedding_requests_total\{outcome="ok"\} [1-9]/);
  assert.match(metrics, /skipserve_embedding_tokens_total [1-9]/);
});

test('gRPC Embed: the same vectors; a bad input is INVALID_ARGUMENT naming it', async () => {
  const c = inferenceClient(server.grpcPort);
  try {
    const call = (req: Partial<EmbedRequestMsg>) => new Promise<EmbedResponseMsg>((resolve, reject) => c.Embed!(req, (err: grpc.ServiceError | null, res: EmbedResponseMsg) => (err ? reject(err) : resolve(res))));
    const r = await call({ input: ['one', 'two apples'] });
    const http = await client.embeddings.create({ model: server.ctx.model.info.id, input: ['one', 'two apples'] });
    assert.equal(r.data.length, 2);
    r.data.forEach((d, i) => assert.deepEqual(d.values, http.data[i]!.embedding));
    assert.equal(r.prompt_tokens, http.usage.prompt_tokens);
    const { tokens } = (await post('/tokenize', { prompt: 'one' })).body as { tokens: number[] };
    assert.deepEqual((await call({ token_inputs: [{ ids: tokens }] })).data[0]!.values, http.data[0]!.embedding);
    for (const [req, field] of [[{ input: ['a', ''] }, 'input[1]'], [{ input: ['a'], token_inputs: [{ ids: [1] }] }, 'token_inputs'], [{}, 'input']] as [Partial<EmbedRequestMsg>, string][]) {
      await assert.rejects(call(req), (e: grpc.ServiceError) => {
        assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
        assert.ok(e.details.startsWith(field), e.details);
        return true;
      });
    }
  } finally {
    c.close();
  }
});

test('past --max-queue embeddings requests in flight, the next is refused at once (429 with Retry-After)', async () => {
  const small = await startTestServer({ maxQueue: 1 });
  try {
    const send = () => fetch(`${small.http}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: Array.from({ length: 128 }, (_, i) => `a longer text to embed, number ${i}`) }) });
    const [a, b] = await Promise.all([send(), send()]);
    const statuses = [a.status, b.status].sort();
    assert.deepEqual(statuses, [200, 429]);
    const refused = a.status === 429 ? a : b;
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal(((await refused.json()) as { error: { type: string } }).error.type, 'rate_limit_error');
  } finally {
    await small.close();
  }
});

test('a client that goes away stops its embeddings request before the next input', async () => {
  const ac = new AbortController();
  const sent = fetch(`${server.http}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: Array.from({ length: 128 }, (_, i) => `${i} `.repeat(60)) }), signal: ac.signal }).catch(() => null);
  await new Promise((r) => setTimeout(r, 100));
  ac.abort();
  await sent;
  let cancelled: string | undefined;
  for (let i = 0; i < 100 && !cancelled; i++) {
    cancelled = (await (await fetch(`${server.http}/metrics`)).text()).split('\n').find((l) => l.startsWith('skipserve_embedding_requests_total{outcome="cancelled"}'));
    if (!cancelled) await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(cancelled ?? '', / 1$/);
});
