// --reasoning-parser end to end on the real server (a byte-level random model whose text a guide
// holds to a reasoning model's shape), called with the unmodified `openai` client: the message's
// reasoning_content is the <think> part and its content the rest, streamed as unstreamed, with
// tool_choice "auto" calls read from the content; the vote still reads the answer; gRPC's
// candidates carry the same parts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import OpenAI from 'openai';
import type { GenerateRequestMsg, GenerateResponseMsg } from '../src/api/grpc/messages.ts';
import { inferenceClient } from './helpers/grpc-client.ts';
import { startTestServer, type TestServer } from './helpers/start-server.ts';

let server: TestServer;
let client: OpenAI;
let model: string;
before(async () => {
  server = await startTestServer({ reasoningParser: 'deepseek_r1', toolCallParser: 'hermes' }, { maxPositions: 512 });
  client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'none', maxRetries: 0 });
  model = server.ctx.model.info.id;
});
after(async () => {
  await server?.close();
});

const messages = [{ role: 'user' as const, content: 'What is 2+3?' }];
type Message = OpenAI.Chat.Completions.ChatCompletionMessage & { reasoning_content?: string | null };
type Delta = OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta & { reasoning_content?: string };

async function streamed(body: Record<string, unknown>) {
  let reasoning = '';
  let content = '';
  const calls: string[] = [];
  for await (const chunk of (await client.chat.completions.create({ ...body, stream: true } as never)) as unknown as AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) {
    const d = chunk.choices[0]?.delta as Delta | undefined;
    reasoning += d?.reasoning_content ?? '';
    content += d?.content ?? '';
    for (const t of d?.tool_calls ?? []) calls.push(`${t.function?.name}(${t.function?.arguments})`);
  }
  return { reasoning, content, calls };
}

test('reasoning_content is the <think> part, content the rest, streamed as unstreamed; the vote reads the answer', async () => {
  const body = { model, messages, n: 3, seed: 2, temperature: 1, max_tokens: 80, guided_regex: '[a-z ]{3,12}</think>\\n\\nThe answer is [0-9]\\.' };
  const r = (await client.chat.completions.create(body as never)) as OpenAI.Chat.Completions.ChatCompletion;
  for (const c of r.choices) {
    const m = c.message as Message;
    assert.match(m.reasoning_content!, /^[a-z ]{3,12}$/);
    assert.match(m.content!, /^\n\nThe answer is [0-9]\.$/);
    assert.equal((c as unknown as { answer: string }).answer, m.content!.slice(-2, -1), 'the vote reads the answer');
  }
  const one = (await client.chat.completions.create({ ...body, n: 1 } as never)) as OpenAI.Chat.Completions.ChatCompletion;
  const s = await streamed({ ...body, n: 1 });
  const m = one.choices[0]!.message as Message;
  assert.deepEqual([s.reasoning, s.content], [m.reasoning_content, m.content]);
  // A plain text (no </think>) is all reasoning under deepseek_r1, its content null.
  const open = (await client.chat.completions.create({ model, messages, seed: 1, max_tokens: 6, guided_regex: '[a-z]{6}' } as never)) as OpenAI.Chat.Completions.ChatCompletion;
  assert.deepEqual([(open.choices[0]!.message as Message).reasoning_content!.length, open.choices[0]!.message.content], [6, null]);
});

test('with tool_choice auto, the calls are read from the content after the reasoning', async () => {
  const add = { type: 'function' as const, function: { name: 'add', parameters: { type: 'object', properties: { a: { type: 'integer' } } } } };
  const body = { model, messages, tools: [add], seed: 3, temperature: 1, max_tokens: 120, guided_regex: 'i should call <tool_call></think>Calling\\.\\n<tool_call>\\{"name": "add", "arguments": \\{"a": [0-9]\\}\\}</tool_call>' };
  const r = (await client.chat.completions.create(body as never)) as OpenAI.Chat.Completions.ChatCompletion;
  const m = r.choices[0]!.message as Message;
  assert.equal(m.reasoning_content, 'i should call <tool_call>', 'a marker inside the reasoning is reasoning');
  assert.equal(m.content, 'Calling.');
  assert.equal(r.choices[0]!.finish_reason, 'tool_calls');
  const call = m.tool_calls![0] as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
  assert.equal(call.function.name, 'add');
  const s = await streamed(body);
  assert.deepEqual([s.reasoning, s.content, s.calls], [m.reasoning_content, m.content, [`add(${call.function.arguments})`]]);
});

test('gRPC: a messages request\'s candidates carry reasoning and content; a prompt request\'s do not', async () => {
  const rpc = inferenceClient(server.grpcPort);
  const unary = (req: Partial<GenerateRequestMsg>) =>
    new Promise<GenerateResponseMsg>((resolve, reject) => rpc.Generate!({ max_tokens: 60, seed: 2, temperature: 1, guided_regex: '[a-z]{3,8}</think>The answer is [0-9]\\.', ...req }, (err: grpc.ServiceError | null, res: GenerateResponseMsg) => (err ? reject(err) : resolve(res))));
  try {
    const c = (await unary({ messages: [{ role: 'user', content: 'What is 2+3?', tool_calls: [], tool_call_id: '' }] })).candidates[0]!;
    assert.match(c.reasoning, /^[a-z]{3,8}$/);
    assert.match(c.content, /^The answer is [0-9]\.$/);
    assert.equal(c.text, `${c.reasoning}</think>${c.content}`);
    const p = (await unary({ prompt: 'Q: 2+3? A:' })).candidates[0]!;
    assert.deepEqual([p.reasoning, p.content, p.has_content], ['', '', false]);
  } finally {
    rpc.close();
  }
});

test('Responses API: a reasoning item (the <think> part) before the message, streamed in the same order as the answer', async () => {
  // text.format holds the answer to a JSON string, which here carries the </think> tag: the reasoning is the text before it.
  const body = { model, input: 'What is 2+3?', seed: 4, temperature: 1, max_output_tokens: 80, text: { format: { type: 'json_schema', name: 's', schema: { type: 'string', pattern: '^[a-z]{2,6}</think>[a-z]{1,4}$' } } } };
  const r = (await client.responses.create(body as never)) as OpenAI.Responses.Response;
  assert.deepEqual(r.output.map((o) => o.type), ['reasoning', 'message']);
  const thought = (r.output[0] as OpenAI.Responses.ResponseReasoningItem).content![0]!.text;
  assert.match(thought, /^"[a-z]{2,6}$/);
  assert.match(r.output_text, /^[a-z]{1,4}"$/);
  const types: string[] = [];
  let thinking = '';
  let text = '';
  let final: OpenAI.Responses.Response | null = null;
  for await (const e of (await client.responses.create({ ...body, stream: true } as never)) as unknown as AsyncIterable<OpenAI.Responses.ResponseStreamEvent>) {
    types.push(e.type);
    if (e.type === 'response.reasoning_text.delta') thinking += e.delta;
    if (e.type === 'response.output_text.delta') text += e.delta;
    if (e.type === 'response.completed') final = e.response;
  }
  assert.deepEqual([thinking, text], [thought, r.output_text]);
  const noIds = (out: OpenAI.Responses.ResponseOutputItem[]) => out.map(({ id: _, ...rest }) => rest);
  assert.deepEqual(noIds(final!.output), noIds(r.output), 'the same items as unstreamed (ids aside: another response)');
  const order = types.filter((t) => t.startsWith('response.output_item'));
  assert.deepEqual(order, ['response.output_item.added', 'response.output_item.done', 'response.output_item.added', 'response.output_item.done']);
  assert.ok(types.indexOf('response.reasoning_text.done') < types.indexOf('response.output_text.delta'));
});
