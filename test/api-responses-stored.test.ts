// The stored side of the Responses API end to end: the real server on loopback with a SQLite store
// file (and a PostgreSQL server where there is one), called with the unmodified `openai` client.
// A response is retrieved as it was answered (streamed or not), its input items are listed and
// paged, `previous_response_id` continues it exactly as the whole conversation sent as input
// would (function calls and their outputs included), DELETE removes it, and what cannot be done
// is an error naming the field; input_tokens counts a body's prompt; with --store off the routes
// answer store_off.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { metricValue, startTestServer, type TestServer } from './helpers/start-server.ts';
import { freshDatabase, postgresForTests } from './helpers/store-postgres.ts';

const root = mkdtempSync(join(tmpdir(), 'skipserve-responses-'));
after(() => rmSync(root, { recursive: true, force: true }));

const model = 'default';
const q1 = 'Tom has 12 apples. He buys 30 more. How many apples does Tom have now?';
const q2 = 'Sara has 7 pens. She loses 2. How many pens does Sara have now?';
const add = { type: 'function' as const, name: 'add', description: 'Adds two numbers', parameters: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, required: ['a', 'b'] }, strict: true };
type Json = Record<string, any>;

async function call(server: TestServer, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${server.http}${path}`, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  return { status: res.status, body: (await res.json()) as Json };
}

/** A retrieved response without the `output_text` the openai client adds (a stream's final response has none). */
async function retrieved(client: OpenAI, id: string): Promise<Json> {
  const { output_text: _, ...rest } = await client.responses.retrieve(id);
  return rest;
}

/** Reads a stream to its final response. */
async function streamed(client: OpenAI, body: Record<string, unknown>): Promise<OpenAI.Responses.Response> {
  let final: OpenAI.Responses.Response | null = null;
  for await (const e of (await client.responses.create({ ...body, stream: true } as never)) as unknown as AsyncIterable<OpenAI.Responses.ResponseStreamEvent>) {
    if (e.type === 'response.completed' || e.type === 'response.incomplete') final = e.response;
  }
  return final!;
}

const pg = await postgresForTests();
const drops: (() => Promise<void>)[] = [];
after(async () => {
  for (const drop of drops) await drop();
});
const engines: { name: string; store: () => Promise<string>; skip?: string }[] = [
  { name: 'SQLite', store: async () => join(root, 'store.sqlite') },
  {
    name: 'PostgreSQL',
    skip: pg.skip,
    store: async () => {
      const db = await freshDatabase(pg.url!);
      drops.push(db.drop);
      return db.url;
    },
  },
];

for (const engine of engines) {
  describe(`stored responses (${engine.name})`, { skip: engine.skip }, () => {
    let server: TestServer;
    let client: OpenAI;
    before(async () => {
      server = await startTestServer({ model: 'models/default', store: await engine.store() });
      client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'none', maxRetries: 0 });
    });
    after(async () => {
      await server?.close();
    });

    test('retrieve gives the response as answered, streamed or not; input items are listed with ids, newest first, and paged', async () => {
      const whole = await client.responses.create({ model, input: q1, temperature: 0, max_output_tokens: 60, metadata: { run: 'a' } });
      assert.deepEqual(await client.responses.retrieve(whole.id), whole);
      const live = await streamed(client, { model, input: [{ role: 'user', content: q1 }], temperature: 0, max_output_tokens: 60 });
      assert.deepEqual(await retrieved(client, live.id), live);

      const input = [
        { role: 'system' as const, content: 'Answer with the number.' },
        { type: 'message' as const, id: 'msg_mine', role: 'user' as const, content: q1 },
        { role: 'assistant' as const, content: '42' },
        { role: 'user' as const, content: q2 },
      ];
      const r = await client.responses.create({ model, input, temperature: 0, max_output_tokens: 30 });
      const page = await client.responses.inputItems.list(r.id);
      const items = page.data as (OpenAI.Responses.ResponseInputItem & { id: string })[];
      assert.equal(items.length, 4);
      assert.equal(items[2]!.id, 'msg_mine', 'a client-given id is kept');
      assert.ok(items.every((it) => /^msg_/.test(it.id)));
      assert.equal(((items[0] as OpenAI.Responses.ResponseInputMessageItem).content[0] as OpenAI.Responses.ResponseInputText).text, q2, 'newest first by default');
      const asc = await call(server, 'GET', `/v1/responses/${r.id}/input_items?order=asc&limit=2`);
      assert.deepEqual(asc.body.data.map((x: Json) => x.id), [...items].reverse().slice(0, 2).map((x) => x.id));
      assert.equal(asc.body.has_more, true);
      const rest = await call(server, 'GET', `/v1/responses/${r.id}/input_items?order=asc&limit=2&after=${asc.body.last_id}`);
      assert.deepEqual(rest.body.data.map((x: Json) => x.id), [...items].reverse().slice(2).map((x) => x.id));
      assert.equal(rest.body.has_more, false);
      const all: string[] = [];
      for await (const it of client.responses.inputItems.list(r.id, { limit: 1 })) all.push((it as { id: string }).id);
      assert.deepEqual(all, items.map((x) => x.id), "the openai client's auto-pagination walks every item once");
    });

    test('previous_response_id continues a response exactly as the whole conversation sent as input would', async () => {
      const first = await client.responses.create({ model, input: q1, temperature: 0, max_output_tokens: 60 });
      const next = await client.responses.create({ model, input: q2, previous_response_id: first.id, temperature: 0, max_output_tokens: 60 });
      assert.equal(next.previous_response_id, first.id);
      const whole = await client.responses.create({ model, input: [{ role: 'user', content: q1 }, { role: 'assistant', content: first.output_text }, { role: 'user', content: q2 }], temperature: 0, max_output_tokens: 60 });
      assert.equal(next.output_text, whole.output_text);
      assert.equal(next.usage!.input_tokens, whole.usage!.input_tokens);
      const chat = await client.chat.completions.create({ model, messages: [{ role: 'user', content: q1 }, { role: 'assistant', content: first.output_text }, { role: 'user', content: q2 }], temperature: 0, max_tokens: 60 });
      assert.equal(next.usage!.input_tokens, chat.usage!.prompt_tokens);
      // Its input items are the first response's input and output, then its own input.
      const items = (await client.responses.inputItems.list(next.id, { order: 'asc' })).data as { id: string; type: string; role?: string }[];
      assert.deepEqual(items.map((x) => x.role), ['user', 'assistant', 'user']);
      assert.equal(items[1]!.id, first.output[0]!.id);
      // Instructions are not carried over: the third turn's prompt has only its own.
      const third = await client.responses.create({ model, input: 'And 3+4?', previous_response_id: next.id, instructions: 'Be brief.', temperature: 0, max_output_tokens: 20 });
      assert.equal(third.instructions, 'Be brief.');
      assert.equal((await client.responses.inputItems.list(third.id)).data.length, 5);
    });

    test("input_tokens counts the prompt a body takes, previous_response_id included, as the response's usage does", async () => {
      const first = await client.responses.create({ model, input: q1, temperature: 0, max_output_tokens: 60 });
      for (const body of [
        { model, input: q2 },
        { model, input: q2, instructions: 'Be brief.', previous_response_id: first.id },
        { model, input: q1, tools: [add], tool_choice: 'required' as const },
      ]) {
        const counted = await client.responses.inputTokens.count(body as never);
        assert.equal(counted.object, 'response.input_tokens');
        const r = await client.responses.create({ ...body, max_output_tokens: 2 } as never) as OpenAI.Responses.Response;
        assert.equal(counted.input_tokens, r.usage!.input_tokens, JSON.stringify(body));
      }
      const bad = await call(server, 'POST', '/v1/responses/input_tokens', { input: q1, previous_response_id: 'resp_none' });
      assert.deepEqual([bad.status, bad.body.error.param], [404, 'previous_response_id']);
      const other = await call(server, 'POST', '/v1/responses/input_tokens', { input: q1, model: 'gpt-x' });
      assert.deepEqual([other.status, other.body.error.param], [404, 'model']);
    });

    test('a function call continues by its call_id: the stream, the answer and the stored response name each call alike', async () => {
      const body = { model, input: q1, temperature: 0, max_output_tokens: 250, tools: [add], tool_choice: 'required' as const };
      const live = await streamed(client, body);
      const calls = live.output as OpenAI.Responses.ResponseFunctionToolCall[];
      assert.ok(calls.length >= 1 && calls.every((c) => c.type === 'function_call'));
      assert.deepEqual(await retrieved(client, live.id), live);
      const outputs = calls.map((c) => ({ type: 'function_call_output' as const, call_id: c.call_id, output: '42' }));
      const next = await client.responses.create({ model, input: outputs, previous_response_id: live.id, tools: [add], tool_choice: 'none', temperature: 0, max_output_tokens: 30 });
      const history = [{ role: 'user' as const, content: q1 }, ...calls.map(({ type, call_id, name, arguments: a }) => ({ type, call_id, name, arguments: a })), ...outputs];
      const whole = await client.responses.create({ model, input: history, tools: [add], tool_choice: 'none', temperature: 0, max_output_tokens: 30 });
      assert.equal(next.output_text, whole.output_text);
      assert.equal(next.usage!.input_tokens, whole.usage!.input_tokens);
    });

    test('store: false keeps nothing; DELETE removes a response with its record; what cannot be done names the field', async () => {
      const unkept = await client.responses.create({ model, input: q1, max_output_tokens: 4, store: false });
      await assert.rejects(client.responses.retrieve(unkept.id), (e: InstanceType<typeof OpenAI.APIError>) => e.status === 404 && (e.error as Json).param === 'id');
      const follow = await call(server, 'POST', '/v1/responses', { input: q2, previous_response_id: unkept.id, max_output_tokens: 4 });
      assert.deepEqual([follow.status, follow.body.error.param], [404, 'previous_response_id']);

      const kept = await client.responses.create({ model, input: q1, max_output_tokens: 4 });
      assert.deepEqual(await call(server, 'DELETE', `/v1/responses/${kept.id}`), { status: 200, body: { id: kept.id, object: 'response', deleted: true } });
      assert.equal((await call(server, 'GET', `/v1/responses/${kept.id}`)).status, 404);
      assert.equal((await call(server, 'GET', `/v1/requests/${kept.id}`)).status, 404, 'its record went with it');
      assert.equal((await call(server, 'DELETE', `/v1/responses/${kept.id}`)).status, 404);

      const chat = await client.chat.completions.create({ model, messages: [{ role: 'user', content: q1 }], max_tokens: 4 });
      assert.equal((await call(server, 'GET', `/v1/responses/${chat.id}`)).status, 404, 'a chat completion is not a response');
      assert.equal((await call(server, 'DELETE', `/v1/responses/${chat.id}`)).status, 404);
      assert.equal((await call(server, 'GET', `/v1/requests/${chat.id}`)).status, 200, 'and it is still there');

      const r = await client.responses.create({ model, input: q1, max_output_tokens: 4 });
      for (const [query, param] of [['limit=0', 'limit'], ['limit=101', 'limit'], ['limit=x', 'limit'], ['order=up', 'order'], ['after=msg_none', 'after'], ['colour=red', 'colour']]) {
        const res = await call(server, 'GET', `/v1/responses/${r.id}/input_items?${query}`);
        assert.deepEqual([res.status, res.body.error.param], [400, param], query);
      }
      const replay = await call(server, 'GET', `/v1/responses/${r.id}?stream=true`);
      assert.deepEqual([replay.status, replay.body.error.param], [400, 'stream']);
    });
  });
}

describe('background responses', () => {
  let server: TestServer;
  let client: OpenAI;
  before(async () => {
    // A random model that rarely ends on its own, so a long response is still running when cancelled.
    server = await startTestServer({ store: join(root, 'background.sqlite') }, { maxPositions: 2048 });
    client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'none', maxRetries: 0 });
  });
  after(async () => {
    await server?.close();
  });
  const id = () => server.ctx.model.info.id;

  test('POST answers at once, queued; GET follows it to completed, the response a foreground request gives', async () => {
    const body = { model: id(), input: 'hello', temperature: 0, max_output_tokens: 300 };
    const started = (await client.responses.create({ ...body, background: true } as never)) as OpenAI.Responses.Response;
    assert.deepEqual([started.status, started.background, started.output.length], ['queued', true, 0]);
    let r = await client.responses.retrieve(started.id);
    const seen = new Set([r.status]);
    while (r.status === 'in_progress' || r.status === 'queued') {
      await new Promise((res) => setTimeout(res, 20));
      r = await client.responses.retrieve(started.id);
      seen.add(r.status);
    }
    assert.ok(seen.has('in_progress'), 'GET saw it running');
    assert.ok(r.status === 'completed' || r.status === 'incomplete', r.status);
    const fore = (await client.responses.create(body as never)) as OpenAI.Responses.Response;
    assert.equal(r.output_text, fore.output_text);
    assert.equal((await client.responses.inputItems.list(started.id)).data.length, 1);
  });

  test('cancel stops a running background response (status cancelled, kept for GET); DELETE refuses one still running', async () => {
    // A string of at least 1,000 characters: the guide allows no end before, so it is running when cancelled.
    const long = { format: { type: 'json_schema', name: 'long', schema: { type: 'string', minLength: 1000 } } };
    const started = (await client.responses.create({ model: id(), input: 'hello', temperature: 1, max_output_tokens: 1900, text: long, background: true } as never)) as OpenAI.Responses.Response;
    const running = await call(server, 'DELETE', `/v1/responses/${started.id}`);
    assert.deepEqual([running.status, running.body.error.param], [400, 'id']);
    const gauge = async () => metricValue(await (await fetch(`${server.http}/metrics`)).text(), 'skipserve_background_responses');
    assert.equal(await gauge(), 1, 'the metric counts it running');
    const cancelled = await client.responses.cancel(started.id);
    assert.equal(await gauge(), 0);
    assert.equal(cancelled.status, 'cancelled');
    assert.equal((await client.responses.retrieve(started.id)).status, 'cancelled');
    assert.equal((await client.responses.cancel(started.id)).status, 'cancelled', 'cancelling again changes nothing');
    assert.deepEqual((await call(server, 'DELETE', `/v1/responses/${started.id}`)).body, { id: started.id, object: 'response', deleted: true });
    assert.equal((await call(server, 'GET', `/v1/responses/${started.id}`)).status, 404, 'a deleted cancelled response is gone');
    assert.equal((await call(server, 'POST', '/v1/responses/resp_unknown/cancel')).status, 404);
    const done = (await client.responses.create({ model: id(), input: 'hi', max_output_tokens: 2 } as never)) as OpenAI.Responses.Response;
    assert.equal((await client.responses.cancel(done.id)).status, 'incomplete', 'a finished response is returned as stored');
  });

  test('background needs the store and no stream: 400s naming the field', async () => {
    const bad = async (body: Record<string, unknown>, param: string) => {
      const res = await call(server, 'POST', '/v1/responses', { input: 'x', background: true, ...body });
      assert.deepEqual([res.status, res.body.error.param], [400, param], JSON.stringify(body));
    };
    await bad({ store: false }, 'background');
    await bad({ stream: true }, 'stream');
    const off = await startTestServer();
    try {
      const res = await call(off, 'POST', '/v1/responses', { input: 'x', background: true });
      assert.deepEqual([res.status, res.body.error.param, res.body.error.code], [400, 'background', 'store_off']);
    } finally {
      await off.close();
    }
  });
});

describe('stored responses with --store off', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ model: 'models/default' });
  });
  after(async () => {
    await server?.close();
  });

  test('retrieve, input_items and DELETE answer 501 store_off; previous_response_id is a 400 naming it', async () => {
    for (const [method, path] of [['GET', '/v1/responses/resp_1'], ['GET', '/v1/responses/resp_1/input_items'], ['DELETE', '/v1/responses/resp_1']]) {
      const res = await call(server, method!, path!);
      assert.deepEqual([res.status, res.body.error.code], [501, 'store_off'], `${method} ${path}`);
    }
    const res = await call(server, 'POST', '/v1/responses', { input: q1, previous_response_id: 'resp_1' });
    assert.deepEqual([res.status, res.body.error.param, res.body.error.code], [400, 'previous_response_id', 'store_off']);
  });
});
