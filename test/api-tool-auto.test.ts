// tool_choice "auto" end to end on the real server started with --tool-call-parser hermes (a
// byte-level random model), called with the unmodified `openai` client: an answer without calls is
// content; an answer the model writes in Hermes' format (held to it here by guided_regex, which
// auto leaves free to combine) comes back as tool_calls with the content before them, streamed
// as unstreamed, on chat and on the Responses API, and on gRPC with its tool fields (named,
// required and auto choices, earlier calls in the messages); without a parser, auto is refused naming it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import OpenAI from 'openai';
import type { GenerateRequestMsg, GenerateResponseMsg } from '../src/api/grpc/messages.ts';
import { inferenceClient } from './helpers/grpc-client.ts';
import { metricValue, startTestServer, type TestServer } from './helpers/start-server.ts';

let server: TestServer;
let client: OpenAI;
let model: string;
before(async () => {
  server = await startTestServer({ toolCallParser: 'hermes' }, { maxPositions: 512 });
  client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'none', maxRetries: 0 });
  model = server.ctx.model.info.id;
});
after(async () => {
  await server?.close();
});

const add = { type: 'function' as const, function: { name: 'add', description: 'Adds two numbers', parameters: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, required: ['a', 'b'] } } };
const messages = [{ role: 'user' as const, content: 'What is 2+3?' }];
// The model's own format, held to by a guide: content, then one Hermes call.
const hermes = 'I will add\\.\\n<tool_call>\\n\\{"name": "add", "arguments": \\{"a": [0-9], "b": [0-9]\\}\\}\\n</tool_call>';

type Chunk = OpenAI.Chat.Completions.ChatCompletionChunk;

async function chatStream(body: Record<string, unknown>) {
  let content = '';
  const calls: { id?: string; name?: string; arguments: string }[] = [];
  let finish: string | null = null;
  for await (const chunk of (await client.chat.completions.create({ ...body, stream: true } as never)) as unknown as AsyncIterable<Chunk>) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    content += choice.delta.content ?? '';
    for (const t of choice.delta.tool_calls ?? []) {
      calls[t.index] ??= { arguments: '' };
      if (t.id) calls[t.index]!.id = t.id;
      if (t.function?.name) calls[t.index]!.name = t.function.name;
      calls[t.index]!.arguments += t.function?.arguments ?? '';
    }
    finish = choice.finish_reason ?? finish;
  }
  return { content, calls, finish };
}

test('chat: a call in the model format is tool_calls after its content, streamed as unstreamed', async () => {
  const body = { model, messages, tools: [add], n: 2, seed: 3, temperature: 1, max_tokens: 120, guided_regex: hermes };
  const r = await client.chat.completions.create(body as never) as OpenAI.Chat.Completions.ChatCompletion;
  for (const c of r.choices) {
    assert.equal(c.finish_reason, 'tool_calls');
    assert.equal(c.message.content, 'I will add.');
    const call = c.message.tool_calls![0]! as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
    assert.equal(call.function.name, 'add');
    assert.match(call.id, /^call_/);
    assert.equal('index' in call, false, 'an unstreamed call has no index');
    assert.deepEqual(Object.keys(JSON.parse(call.function.arguments)), ['a', 'b']);
  }
  const s = await chatStream({ ...body, n: 1 });
  const one = await client.chat.completions.create({ ...body, n: 1 } as never) as OpenAI.Chat.Completions.ChatCompletion;
  assert.equal(s.content, one.choices[0]!.message.content);
  assert.deepEqual(s.calls.map((c) => [c.name, c.arguments]), one.choices[0]!.message.tool_calls!.map((c) => [(c as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall).function.name, (c as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall).function.arguments]));
  assert.equal(s.finish, 'tool_calls');
});

test('chat: an answer without calls is content (tool_choice auto by default), streamed as unstreamed', async () => {
  const body = { model, messages, tools: [add], seed: 4, temperature: 1, max_tokens: 30, guided_regex: 'The sum is [0-9]\\.' };
  const r = await client.chat.completions.create(body as never) as OpenAI.Chat.Completions.ChatCompletion;
  assert.match(r.choices[0]!.message.content!, /^The sum is [0-9]\.$/);
  assert.equal(r.choices[0]!.message.tool_calls, undefined);
  assert.equal(r.choices[0]!.finish_reason, 'stop');
  const s = await chatStream(body);
  assert.deepEqual([s.content, s.calls.length, s.finish], [r.choices[0]!.message.content, 0, 'stop']);
  const free = await client.chat.completions.create({ model, messages, tools: [add], tool_choice: 'auto', seed: 5, max_tokens: 20 } as never) as OpenAI.Chat.Completions.ChatCompletion;
  assert.equal(typeof free.choices[0]!.message.content, 'string', 'unguided random text is content');
  // The metric counts each candidate by what the parser read (the test before this one wrote calls).
  const text = await (await fetch(`${server.http}/metrics`)).text();
  assert.ok(metricValue(text, 'skipserve_tool_call_parses_total{parser="hermes",outcome="calls"}')! >= 2);
  assert.ok(metricValue(text, 'skipserve_tool_call_parses_total{parser="hermes",outcome="text"}')! >= 2);
});

test('Responses API (--tool-call-parser json, the answer held to a call by text.format): function_call items, streamed as unstreamed; no call: one message', async () => {
  const json = await startTestServer({ toolCallParser: 'json' }, { maxPositions: 512 });
  try {
    const c = new OpenAI({ baseURL: `${json.http}/v1`, apiKey: 'none', maxRetries: 0 });
    const call = { type: 'object', properties: { name: { const: 'add' }, arguments: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, required: ['a', 'b'] } }, required: ['name', 'arguments'] };
    const body = { model: json.ctx.model.info.id, input: 'What is 2+3?', tools: [{ type: 'function', name: 'add', parameters: add.function.parameters }], seed: 3, temperature: 1, max_output_tokens: 200, text: { format: { type: 'json_schema', name: 'call', schema: call } } };
    const r = (await c.responses.create(body as never)) as OpenAI.Responses.Response;
    assert.equal(r.output.length, 1);
    const item = r.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
    assert.deepEqual([item.type, item.name, item.status], ['function_call', 'add', 'completed']);
    assert.deepEqual(Object.keys(JSON.parse(item.arguments)), ['a', 'b']);
    let final: OpenAI.Responses.Response | null = null;
    const types: string[] = [];
    for await (const e of (await c.responses.create({ ...body, stream: true } as never)) as unknown as AsyncIterable<OpenAI.Responses.ResponseStreamEvent>) {
      types.push(e.type);
      if (e.type === 'response.completed') final = e.response;
    }
    assert.deepEqual(types.filter((t) => t.startsWith('response.output_item') || t.startsWith('response.function_call')), ['response.output_item.added', 'response.function_call_arguments.delta', 'response.function_call_arguments.done', 'response.output_item.done']);
    assert.equal((final!.output[0] as OpenAI.Responses.ResponseFunctionToolCall).arguments, item.arguments);
    const plain = (await c.responses.create({ ...body, text: undefined, max_output_tokens: 10 } as never)) as OpenAI.Responses.Response;
    assert.deepEqual(plain.output.map((o) => o.type), ['message'], 'no call written: one message');
  } finally {
    await json.close();
  }
});

test('gRPC: tools, tool_choice (auto, a name, required) and earlier calls; candidates carry content and tool_calls; bad tool fields are INVALID_ARGUMENT naming them', async () => {
  const rpc = inferenceClient(server.grpcPort);
  const unary = (req: Partial<GenerateRequestMsg>) =>
    new Promise<GenerateResponseMsg>((resolve, reject) => rpc.Generate!({ messages: [{ role: 'user', content: 'What is 2+3?' }], max_tokens: 120, seed: 3, temperature: 1, ...req }, (err: grpc.ServiceError | null, res: GenerateResponseMsg) => (err ? reject(err) : resolve(res))));
  const tools = [{ name: 'add', description: 'Adds two numbers', parameters: JSON.stringify(add.function.parameters) }];
  try {
    const auto = await unary({ tools, guided_regex: hermes });
    const c = auto.candidates[0]!;
    assert.deepEqual([c.content, c.has_content, c.tool_calls.length, c.tool_calls[0]!.name], ['I will add.', true, 1, 'add']);
    assert.match(c.tool_calls[0]!.id, /^call_/);
    assert.match(c.text, /<tool_call>/, 'text stays the raw text');
    const named = await unary({ tools, tool_choice: 'add', n: 2 });
    for (const x of named.candidates) {
      assert.deepEqual([x.has_content, x.tool_calls[0]!.name], [false, 'add']);
      assert.deepEqual(Object.keys(JSON.parse(x.tool_calls[0]!.arguments)).sort(), ['a', 'b']);
    }
    const required = await unary({ tools, tool_choice: 'required', parallel_tool_calls: false });
    assert.equal(required.candidates[0]!.tool_calls.length, 1);
    const none = await unary({ tools, tool_choice: 'none', max_tokens: 8 });
    assert.deepEqual([none.candidates[0]!.content, none.candidates[0]!.tool_calls.length], [none.candidates[0]!.text, 0]);
    // An earlier call and its result go to the template; so does chat_template_kwargs.
    const history = await unary({
      messages: [
        { role: 'user', content: 'What is 2+3?', tool_calls: [], tool_call_id: '' },
        { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', name: 'add', arguments: '{"a":2,"b":3}' }], tool_call_id: '' },
        { role: 'tool', content: '5', tool_calls: [], tool_call_id: 'call_1' },
      ],
      tools,
      tool_choice: 'none',
      max_tokens: 4,
      chat_template_kwargs: '{"x": 1}',
    });
    assert.ok(history.usage!.prompt_tokens > none.usage!.prompt_tokens, 'the call and its result are in the prompt');
    const bad = async (req: Partial<GenerateRequestMsg>, field: string) =>
      assert.rejects(unary(req), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && e.details.startsWith(field), `${field}`);
    await bad({ tools: [{ name: 'add', description: '', parameters: '{nope' }] }, 'tools[0].parameters');
    await bad({ tools: [{ name: 'bad name', description: '', parameters: '' }], tool_choice: 'required' }, 'tools[0].name');
    await bad({ tools, tool_choice: 'sub' }, 'tool_choice');
    await bad({ chat_template_kwargs: '[1]' }, 'chat_template_kwargs');
    await bad({ messages: [{ role: 'tool', content: '5', tool_calls: [], tool_call_id: '' }] }, 'messages[0].tool_call_id');
    await bad({ messages: [], prompt: 'x', tools }, 'tools');
  } finally {
    rpc.close();
  }
});

test('without --tool-call-parser, auto is refused naming tool_choice and the flag', async () => {
  const bare = await startTestServer();
  try {
    const res = await fetch(`${bare.http}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages, tools: [add], max_tokens: 4 }) });
    const body = (await res.json()) as { error: { param: string; message: string } };
    assert.deepEqual([res.status, body.error.param], [400, 'tool_choice']);
    assert.match(body.error.message, /--tool-call-parser/);
  } finally {
    await bare.close();
  }
});
