/**
 * End-to-end: the real server on loopback with a real SQLite store file. Every completion (HTTP and
 * gRPC) is recorded under its response id with everything it served; GET /v1/requests/{id} and gRPC
 * GetRequest return it with its feedback; POST /v1/feedback and gRPC Feedback store feedback, once
 * per (id, source), naming bad fields; metadata is validated; a full queue drops records, never
 * requests; with --store off the same routes answer store_off.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import OpenAI from 'openai';
import type { GenerateResponseMsg, RequestRecordMsg } from '../src/api/grpc/messages.ts';
import { metricValue, startTestServer, type TestServer } from './helpers/start-server.ts';
import { inferenceClient } from './helpers/grpc-client.ts';

const root = mkdtempSync(join(tmpdir(), 'skipserve-records-'));
after(() => rmSync(root, { recursive: true, force: true }));

type Json = Record<string, any>;

function grpcClient(port: number) {
  const client = inferenceClient(port);
  const call = <Res>(method: string, req: unknown): Promise<Res> =>
    new Promise((resolve, reject) => client[method]!(req, (err: grpc.ServiceError | null, res: Res) => (err ? reject(err) : resolve(res))));
  return { client, call };
}

const json = async (server: TestServer, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(`${server.http}${path}`, body === undefined ? { headers } : { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Json };
};

describe('with a SQLite store', () => {
  let server: TestServer;
  let rpc: ReturnType<typeof grpcClient>;
  before(async () => {
    server = await startTestServer({ store: join(root, 'store.sqlite') });
    rpc = grpcClient(server.grpcPort);
  });
  after(async () => {
    rpc?.client.close();
    await server?.close();
  });

  test('a response is recorded under its resp_ id, unless it says store: false', async () => {
    const kept = await json(server, '/v1/responses', { input: 'Q: 2+3?', max_output_tokens: 4 });
    assert.equal(kept.status, 200, JSON.stringify(kept.body));
    for (let i = 0; i < 50 && (await json(server, `/v1/requests/${kept.body.id}`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await json(server, `/v1/requests/${kept.body.id}`)).status, 200);
    const unkept = await json(server, '/v1/responses', { input: 'Q: 2+3?', max_output_tokens: 4, store: false });
    assert.equal(unkept.status, 200);
    await json(server, '/v1/responses', { input: 'Q: 4+4?', max_output_tokens: 2 }); // written after the unkept one would be
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await json(server, `/v1/requests/${unkept.body.id}`)).status, 404);
  });

  test("a chat completion sent by the openai client with OpenAI's store, service_tier and modalities: store false is not recorded; other tiers and audio are refused by name", async () => {
    const client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'unused', maxRetries: 0 });
    const model = (await json(server, '/v1/models')).body.data[0].id as string;
    const ask = (extra: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming>) =>
      client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Q: 2+3?' }], max_tokens: 3, ...extra });
    const kept = await ask({ store: true, service_tier: 'auto', modalities: ['text'] });
    const unkept = await ask({ store: false, service_tier: 'default' });
    await ask({}); // written after the unkept one would be
    for (let i = 0; i < 50 && (await json(server, `/v1/requests/${kept.id}`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await json(server, `/v1/requests/${kept.id}`)).status, 200);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await json(server, `/v1/requests/${unkept.id}`)).status, 404);
    for (const [extra, param] of [[{ service_tier: 'flex' }, 'service_tier'], [{ modalities: ['text', 'audio'] }, 'modalities[1]']] as const) {
      await assert.rejects(ask(extra as never), (e: InstanceType<typeof OpenAI.APIError>) => e.status === 400 && e.param === param, param);
    }
  });

  test('a chat completion is recorded under its id with what was served, its metadata and reference answer', async () => {
    const metadata = { tier: 'hard', kind: 'two-step', steps: '2' };
    const r = await json(server, '/v1/chat/completions', {
      messages: [{ role: 'user', content: 'Q: 2+3?' }], n: 3, max_tokens: 8, seed: 4, temperature: 0.9,
      metadata, skip: { policy: 'random-heads', k: 1, reference_answer: '5' },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.match(r.body.id, /^chatcmpl-[0-9a-f]{32}$/);
    const models = await json(server, '/v1/models');
    const rec = await json(server, `/v1/requests/${r.body.id}`);
    assert.equal(rec.status, 200, JSON.stringify(rec.body));
    const b = rec.body;
    assert.equal(b.id, r.body.id);
    assert.match(b.prompt, /Q: 2\+3\?/);
    assert.equal(b.prompt_tokens, r.body.usage.prompt_tokens);
    assert.equal(b.policy, 'random-heads');
    assert.equal(b.model_version, models.body.data[0].model_version);
    assert.match(b.model_version, /@[0-9a-f]{12}$/);
    assert.deepEqual(b.choices.map((c: Json) => c.text), r.body.choices.map((c: Json) => c.message.content));
    assert.deepEqual(b.choices.map((c: Json) => c.skip_plan), r.body.choices.map((c: Json) => c.skip_plan));
    assert.deepEqual(b.choices.map((c: Json) => c.answer), r.body.choices.map((c: Json) => c.answer));
    assert.deepEqual(b.choices.map((c: Json) => c.score), r.body.choices.map((c: Json) => c.score));
    assert.deepEqual(b.choices.map((c: Json) => c.finish_reason), r.body.choices.map((c: Json) => c.finish_reason));
    assert.equal(b.selected_index, r.body.skip.selected_index);
    assert.deepEqual(b.diversity, r.body.skip.diversity);
    assert.equal(b.speedup, r.body.skip.speedup);
    assert.ok(b.timings.total_ms > 0 && b.timings.queue_ms >= 0 && b.timings.time_to_first_token_ms > 0);
    assert.equal(b.reference_answer, '5');
    assert.equal(b.matched_reference, r.body.skip.matched_reference);
    assert.deepEqual(b.metadata, metadata);
    assert.deepEqual(b.feedback, []);
  });

  test('feedback: stored once per (id, source), replaced on repeat, fields named, shown with the record', async () => {
    const r = await json(server, '/v1/completions', { prompt: 'Q: 1+1? A:', n: 2, max_tokens: 4, seed: 1 });
    assert.match(r.body.id, /^cmpl-[0-9a-f]{32}$/);
    const id = r.body.id;
    assert.deepEqual((await json(server, '/v1/feedback', { id, source: 'user', answer: '2' })).body, { object: 'feedback', id, source: 'user', replaced: false });
    assert.equal((await json(server, '/v1/feedback', { id, source: 'user', answer: 3 })).body.replaced, true);
    assert.equal((await json(server, '/v1/feedback', { id, source: 'grader', labels: [true, false] })).status, 200);
    assert.equal((await json(server, '/v1/feedback', { id, source: 'rater', score: 0.5 })).status, 200);
    const bad = async (body: unknown, status: number, param: string | null) => {
      const res = await json(server, '/v1/feedback', body);
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.equal(res.body.error.param, param, JSON.stringify(res.body));
    };
    await bad({ id, source: 'grader', labels: [true] }, 400, 'labels');
    await bad({ id, source: 'x', answer: '1', score: 1 }, 400, 'answer');
    await bad({ id, source: 'x' }, 400, 'answer');
    await bad({ id, source: '', answer: '1' }, 400, 'source');
    await bad({ id, source: 'x', score: 'high' }, 400, 'score');
    await bad({ id, source: 'x', answer: '1', extra: true }, 400, 'extra');
    await bad({ id: 'cmpl-unknown', source: 'x', answer: '1' }, 404, 'id');
    const rec = (await json(server, `/v1/requests/${id}`)).body;
    assert.deepEqual(
      rec.feedback.map((f: Json) => ({ ...f, created: undefined, updated: undefined })),
      [
        { source: 'grader', labels: [true, false], created: undefined, updated: undefined },
        { source: 'rater', score: 0.5, created: undefined, updated: undefined },
        { source: 'user', answer: '3', created: undefined, updated: undefined },
      ],
    );
    const missing = await json(server, '/v1/requests/cmpl-nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'not_found');
  });

  test('metadata: at most 16 string pairs, the field named', async () => {
    const send = (metadata: unknown) => json(server, '/v1/completions', { prompt: 'hi', max_tokens: 1, metadata });
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    for (const [metadata, param] of [[many, 'metadata'], [{ tier: 3 }, 'metadata.tier'], [{ note: 'x'.repeat(513) }, 'metadata.note'], [{ ['k'.repeat(65)]: 'v' }, 'metadata']] as const) {
      const r = await send(metadata);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.param, param);
    }
    assert.equal((await send({ a: 'b' })).status, 200);
  });

  test('gRPC: the same id scheme, metadata recorded, GetRequest and Feedback with the same rules', async () => {
    const r = await rpc.call<GenerateResponseMsg>('Generate', { messages: [{ role: 'user', content: 'hi' }], n: 2, max_tokens: 4, seed: 3, metadata: { tier: 'easy' } });
    assert.match(r.id, /^chatcmpl-[0-9a-f]{32}$/);
    const rec = await rpc.call<RequestRecordMsg>('GetRequest', { id: r.id });
    assert.equal(rec.id, r.id);
    assert.deepEqual(rec.metadata, { tier: 'easy' });
    assert.deepEqual(rec.candidates.map((c) => c.text), r.candidates.map((c) => c.text));
    assert.deepEqual(rec.candidates.map((c) => c.skip_plan), r.candidates.map((c) => c.skip_plan));
    assert.equal(rec.selected_index, r.skip.selected_index);
    const p = (await rpc.call<GenerateResponseMsg>('Generate', { prompt: 'hi', max_tokens: 2 })).id;
    assert.match(p, /^cmpl-/);
    assert.deepEqual(await rpc.call('Feedback', { id: r.id, source: 'grpc', labels: { values: [true, false] } }), { id: r.id, source: 'grpc', replaced: false });
    assert.equal((await rpc.call<{ replaced: boolean }>('Feedback', { id: r.id, source: 'grpc', score: 1 })).replaced, true);
    const http = await json(server, `/v1/requests/${r.id}`);
    assert.deepEqual(http.body.feedback.map((f: Json) => [f.source, f.score]), [['grpc', 1]]);
    await assert.rejects(rpc.call('Feedback', { id: r.id, source: 'grpc' }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /^answer: /.test(e.details));
    await assert.rejects(rpc.call('Feedback', { id: r.id, source: 'g', labels: { values: [true] } }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /^labels: /.test(e.details));
    await assert.rejects(rpc.call('GetRequest', { id: 'chatcmpl-nope' }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
    await assert.rejects(rpc.call('Generate', { prompt: 'hi', max_tokens: 1, metadata: { ['k'.repeat(65)]: 'v' } }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /^metadata: /.test(e.details));
  });

  test('metrics: records written, feedback by outcome, write latency, model info', async () => {
    const text = await (await fetch(`${server.http}/metrics`)).text();
    assert.ok(metricValue(text, 'skipserve_store_records_written_total')! >= 4);
    assert.ok(metricValue(text, 'skipserve_feedback_received_total{outcome="stored"}')! >= 5);
    assert.ok(metricValue(text, 'skipserve_feedback_received_total{outcome="invalid"}')! >= 1);
    assert.ok(metricValue(text, 'skipserve_store_write_duration_seconds_count{operation="records"}')! >= 1);
    const v = (await json(server, '/v1/models')).body.data[0];
    assert.equal(metricValue(text, `skipserve_model_info{model_version="${v.model_version}",selector_version="none"}`), 1);
    // The 5 refused generation requests of the metadata tests (4 HTTP, 1 gRPC) and the 2 of OpenAI's chat fields; the refused feedbacks and lookups are not generation requests.
    assert.equal(metricValue(text, 'skipserve_requests_total{policy="unknown",outcome="invalid"}'), 7);
  });
});

test('a full store queue drops records (counted), never requests', async () => {
  const server = await startTestServer({ store: join(root, 'tiny-queue.sqlite'), storeQueue: 1 });
  try {
    const send = () => json(server, '/v1/completions', { prompt: 'Q: 5+5? A:', max_tokens: 6, ignore_eos: true, temperature: 0 });
    const all = await Promise.all(Array.from({ length: 6 }, send));
    assert.deepEqual(all.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
    await server.ctx.store.flush();
    const text = await (await fetch(`${server.http}/metrics`)).text();
    const written = metricValue(text, 'skipserve_store_records_written_total')!;
    const dropped = metricValue(text, 'skipserve_store_records_dropped_total{reason="queue_full"}') ?? 0;
    assert.equal(written + dropped, 6);
    assert.ok(dropped >= 1, `dropped ${dropped}`);
  } finally {
    await server.close();
  }
});

test('--store off: lookups and feedback answer store_off (HTTP 501, gRPC UNIMPLEMENTED); requests are served', async () => {
  const server = await startTestServer({ store: 'off' });
  const rpc = grpcClient(server.grpcPort);
  try {
    const r = await json(server, '/v1/completions', { prompt: 'hi', max_tokens: 1 });
    assert.equal(r.status, 200);
    for (const res of [await json(server, `/v1/requests/${r.body.id}`), await json(server, '/v1/feedback', { id: r.body.id, source: 'u', answer: '1' })]) {
      assert.equal(res.status, 501);
      assert.equal(res.body.error.code, 'store_off');
    }
    await assert.rejects(rpc.call('GetRequest', { id: r.body.id }), (e: grpc.ServiceError) => e.code === grpc.status.UNIMPLEMENTED && /--store off/.test(e.details));
  } finally {
    rpc.client.close();
    await server.close();
  }
});

test('records and feedback sit behind the API key like every /v1 route; /admin too', async () => {
  const server = await startTestServer({ store: join(root, 'auth.sqlite'), apiKey: 'k1' });
  try {
    assert.equal((await json(server, '/v1/requests/x')).status, 401);
    assert.equal((await json(server, '/v1/feedback', { id: 'x', source: 's', answer: '1' })).status, 401);
    assert.equal((await json(server, '/admin/reload', {})).status, 401);
    assert.equal((await json(server, '/v1/requests/x', undefined, { authorization: 'Bearer k1' })).status, 404);
  } finally {
    await server.close();
  }
});
