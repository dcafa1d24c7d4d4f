// POST /v1/responses end to end on the default model: the real server on loopback called with the
// unmodified `openai` client's responses.create, streamed and not; the same text as a chat
// completion of the same messages; guided JSON, best-of-N, conversation history and the refusals.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestServer, type TestServer } from './helpers/start-server.ts';

let server: TestServer;
let client: OpenAI;

before(async () => {
  server = await startTestServer({ model: 'models/default' });
  client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'none', maxRetries: 0 });
});
after(async () => {
  await server?.close();
});

const question = 'Tom has 12 apples. He buys 30 more. How many apples does Tom have now?';
const model = 'default';

test('a response is the chat completion of the same messages: text, usage, a resp_ id, status completed', async () => {
  const r = await client.responses.create({ model, input: question, temperature: 0, max_output_tokens: 60 });
  const chat = await client.chat.completions.create({ model, messages: [{ role: 'user', content: question }], temperature: 0, max_tokens: 60 });
  assert.equal(r.output_text, chat.choices[0]!.message.content);
  assert.equal(r.status, 'completed');
  assert.match(r.id, /^resp_[0-9a-f]{32}$/);
  assert.equal(r.output.length, 1);
  assert.equal(r.output[0]!.type, 'message');
  assert.equal(r.usage!.input_tokens, chat.usage!.prompt_tokens);
  assert.equal(r.usage!.output_tokens, chat.usage!.completion_tokens);
  const short = await client.responses.create({ model, input: [{ role: 'user', content: question }], temperature: 0, max_output_tokens: 3 });
  assert.equal(short.status, 'incomplete');
  assert.equal(short.incomplete_details!.reason, 'max_output_tokens');
});

test('streamed: the Responses event sequence; the deltas add up to the final text, with logprobs when included', async () => {
  const events = await client.responses.create({ model, input: question, temperature: 0, max_output_tokens: 60, stream: true, include: ['message.output_text.logprobs'], top_logprobs: 2 });
  const types: string[] = [];
  const seqs: number[] = [];
  let text = '';
  let logprobs = 0;
  let final: OpenAI.Responses.Response | null = null;
  for await (const e of events) {
    types.push(e.type);
    seqs.push(e.sequence_number);
    if (e.type === 'response.output_text.delta') {
      text += e.delta;
      logprobs += e.logprobs.length;
      assert.ok(e.logprobs.every((l) => l.top_logprobs!.length === 2));
    }
    if (e.type === 'response.completed') final = e.response;
  }
  assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
  assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
  assert.deepEqual(seqs, seqs.map((_, i) => i));
  assert.equal(text, ' 12+30=42. The answer is 42.');
  const part = (final!.output[0] as OpenAI.Responses.ResponseOutputMessage).content[0] as OpenAI.Responses.ResponseOutputText;
  assert.equal(part.text, text);
  assert.equal(part.logprobs!.length, logprobs);
  assert.equal(logprobs, final!.usage!.output_tokens);
});

test('top_logprobs alone asks for logprobs too; 0 without include asks none', async () => {
  const r = await client.responses.create({ model, input: question, temperature: 0, max_output_tokens: 8, top_logprobs: 3 });
  const part = (r.output[0] as OpenAI.Responses.ResponseOutputMessage).content[0] as OpenAI.Responses.ResponseOutputText;
  assert.equal(part.logprobs!.length, r.usage!.output_tokens);
  assert.ok(part.logprobs!.every((l) => l.top_logprobs!.length === 3));
  const none = await client.responses.create({ model, input: question, temperature: 0, max_output_tokens: 8, top_logprobs: 0 });
  assert.equal(((none.output[0] as OpenAI.Responses.ResponseOutputMessage).content[0] as OpenAI.Responses.ResponseOutputText).logprobs, undefined);
});

test('instructions become a system message; conversation history (an earlier output) is taken back as input', async () => {
  const withInstructions = await client.responses.create({ model, instructions: 'Answer briefly.', input: question, temperature: 0, max_output_tokens: 40 });
  const tok = (await (await fetch(`${server.http}/tokenize`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: question }] }) })).json()) as { count: number };
  assert.equal(withInstructions.usage!.input_tokens, tok.count);
  const first = await client.responses.create({ model, input: question, temperature: 0, max_output_tokens: 40 });
  const next = await client.responses.create({ model, input: [{ role: 'user', content: question }, ...(first.output as OpenAI.Responses.ResponseOutputMessage[]), { role: 'user', content: 'Tom has 5 pears. He eats 2. How many pears does Tom have now?' }], temperature: 0, max_output_tokens: 40 });
  assert.equal(next.status, 'completed');
  assert.ok(next.usage!.input_tokens > first.usage!.input_tokens + first.usage!.output_tokens);
});

test('text.format json_schema guides the text; n and skip (extensions) give best-of-N with every candidate in skip.candidates', async () => {
  const schema = { type: 'object', properties: { answer: { type: 'integer' } }, required: ['answer'] };
  const j = await client.responses.create({ model, input: question, temperature: 0.8, max_output_tokens: 40, text: { format: { type: 'json_schema', name: 'answer', schema } } });
  assert.ok(Number.isInteger(JSON.parse(j.output_text).answer), j.output_text);
  const r = (await client.responses.create({ model, input: question, temperature: 0.8, max_output_tokens: 60, n: 8, skip: { policy: 'random-heads', k: 2 } } as never)) as unknown as OpenAI.Responses.Response & { skip: { selected_index: number; candidates: { index: number; text: string }[] } };
  assert.equal(r.skip.candidates.length, 8);
  assert.equal(r.output_text, r.skip.candidates[r.skip.selected_index]!.text);
});

const add = { type: 'function' as const, name: 'add', description: 'Adds two numbers', parameters: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, required: ['a', 'b'] }, strict: true };

test('function tools: a named choice and required give function_call items, streamed as the Responses API streams them, the same as unstreamed', async () => {
  const body = { model, input: question, temperature: 0.8, seed: 3, max_output_tokens: 250, tools: [add] } as const;
  const named = await client.responses.create({ ...body, tool_choice: { type: 'function', name: 'add' } } as never) as OpenAI.Responses.Response;
  assert.equal(named.output.length, 1);
  const call = named.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
  assert.equal(call.type, 'function_call');
  assert.equal(call.name, 'add');
  assert.match(call.call_id, /^call_/);
  assert.ok(Number.isInteger(JSON.parse(call.arguments).a));
  for (const choice of [{ type: 'function', name: 'add' }, 'required'] as const) {
    const whole = await client.responses.create({ ...body, tool_choice: choice } as never) as OpenAI.Responses.Response;
    const events = await client.responses.create({ ...body, tool_choice: choice, stream: true } as never) as unknown as AsyncIterable<OpenAI.Responses.ResponseStreamEvent>;
    const args = new Map<number, string>();
    const added: string[] = [];
    let deltas = 0;
    let final: OpenAI.Responses.Response | null = null;
    for await (const e of events) {
      if (e.type === 'response.output_item.added') added.push((e.item as OpenAI.Responses.ResponseFunctionToolCall).name);
      if (e.type === 'response.function_call_arguments.delta') {
        deltas++;
        args.set(e.output_index, (args.get(e.output_index) ?? '') + e.delta);
      }
      if (e.type === 'response.completed') final = e.response;
    }
    const calls = whole.output as OpenAI.Responses.ResponseFunctionToolCall[];
    assert.deepEqual(added, calls.map((c) => c.name));
    assert.deepEqual([...args.values()], calls.map((c) => c.arguments), `${JSON.stringify(choice)}: the streamed arguments are the unstreamed ones`);
    assert.ok(deltas > calls.length, 'arguments stream piece by piece');
    assert.deepEqual((final!.output as OpenAI.Responses.ResponseFunctionToolCall[]).map((c) => c.arguments), calls.map((c) => c.arguments));
  }
});

test('function tools: a call cut by max_output_tokens is an incomplete function_call with its arguments so far, streamed or not', async () => {
  const body = { model, input: question, temperature: 0, max_output_tokens: 6, tools: [add], tool_choice: { type: 'function', name: 'add' } } as const;
  const whole = (await client.responses.create(body as never)) as OpenAI.Responses.Response;
  assert.equal(whole.status, 'incomplete');
  const call = whole.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
  assert.equal(call.type, 'function_call');
  assert.equal(call.status, 'incomplete');
  assert.ok(call.arguments.length > 0 && call.arguments.startsWith('{'), call.arguments);
  let final: OpenAI.Responses.Response | null = null;
  let doneItem: OpenAI.Responses.ResponseFunctionToolCall | null = null;
  for await (const e of (await client.responses.create({ ...body, stream: true } as never)) as unknown as AsyncIterable<OpenAI.Responses.ResponseStreamEvent>) {
    if (e.type === 'response.incomplete') final = e.response;
    if (e.type === 'response.output_item.done') doneItem = e.item as OpenAI.Responses.ResponseFunctionToolCall;
  }
  assert.equal(doneItem!.arguments, call.arguments);
  assert.deepEqual((final!.output[0] as OpenAI.Responses.ResponseFunctionToolCall).arguments, call.arguments);
  assert.equal(doneItem!.id, final!.output[0]!.id, 'the stream and its final response name the call alike');
});

test('function tools: an earlier call and its output go back to the model as history', async () => {
  const history = [
    { role: 'user' as const, content: 'What is 2+3?' },
    { type: 'function_call' as const, call_id: 'call_1', name: 'add', arguments: '{"a":2,"b":3}' },
    { type: 'function_call_output' as const, call_id: 'call_1', output: '5' },
  ];
  const r = await client.responses.create({ model, input: history, tools: [add], tool_choice: 'none', temperature: 0, max_output_tokens: 20 });
  assert.equal(r.status === 'completed' || r.status === 'incomplete', true);
  assert.equal(r.output[0]!.type, 'message');
  const bare = await client.responses.create({ model, input: history.slice(0, 1), temperature: 0, max_output_tokens: 20 });
  assert.ok(r.usage!.input_tokens >= bare.usage!.input_tokens, 'the call and its output are in the prompt (as the template renders them)');
});

test('what this server does not do is a 400 naming the field', async () => {
  const bad = async (body: Record<string, unknown>, param: string) => {
    await assert.rejects(client.responses.create({ model, input: question, max_output_tokens: 8, ...body } as never), (e: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(e.status, 400, JSON.stringify(e.error));
      assert.equal((e.error as { param: string | null }).param, param, JSON.stringify(e.error));
      assert.ok(!/\.function\./.test(e.message), `the message names the Responses API's own path: ${e.message}`);
      return true;
    });
  };
  await bad({ previous_response_id: 'resp_1' }, 'previous_response_id');
  await bad({ tools: [{ type: 'function', name: 'f', parameters: {} }] }, 'tool_choice');
  await bad({ tools: [{ type: 'web_search' }] }, 'tools[0].type');
  await bad({ tools: [add, { ...add, name: 'bad name' }], tool_choice: 'required' }, 'tools[1].name');
  await bad({ tools: [{ ...add, parameters: { type: 'date' } }], tool_choice: 'required' }, 'tools[0].parameters');
  await bad({ input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'http://x/y.png' }] }] }, 'input[0].content[0].type');
  await bad({ input: [{ type: 'reasoning', id: 'r', summary: [] }] }, 'input[0].type');
  await bad({ max_output_tokens: 0 }, 'max_output_tokens');
  await bad({ stream: true, n: 2 }, 'n');
  await bad({ text: { format: { type: 'json_schema', name: 'x', schema: { type: 'date' } } } }, 'text.format.schema');
  await bad({ reasoning: { effort: 'high', summary: 'auto' } }, 'reasoning.summary');
  await bad({ truncation: 'auto' }, 'truncation');
  await bad({ include: ['file_search_call.results'] }, 'include[0]');
  await bad({ top_logprobs: 50, include: ['message.output_text.logprobs'] }, 'top_logprobs');
  await bad({ top_logprobs: -1 }, 'top_logprobs');
});
