// End-to-end guided decoding: the real server on loopback (a random-weight model, so only the guide
// keeps its text in shape), called with the `openai` client (response_format, vLLM's guided_*
// fields as extra body keys) and with grpc-js.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import * as grpc from '@grpc/grpc-js';
import type { GenerateRequestMsg, GenerateResponseMsg } from '../src/api/grpc/messages.ts';
import { startTestServer, type TestServer } from './helpers/start-server.ts';
import { inferenceClient } from './helpers/grpc-client.ts';

let server: TestServer;
let client: OpenAI;
let grpcClient: grpc.Client & Record<string, Function>;

before(async () => {
  server = await startTestServer({}, { maxPositions: 512 });
  client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'none', maxRetries: 0 });
  grpcClient = inferenceClient(server.grpcPort);
});
after(async () => {
  grpcClient?.close();
  await server?.close();
});

const messages = [{ role: 'user' as const, content: 'Describe a person.' }];
const schema = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 8 }, age: { type: 'integer' }, pets: { type: 'array', items: { enum: ['cat', 'dog'] }, maxItems: 3 }, member: { type: 'boolean' } },
  required: ['name', 'age', 'member'],
};

test('response_format json_schema: every candidate is JSON of the schema, finished by the guide', async () => {
  const r = await client.chat.completions.create({ model: server.ctx.model.info.id, messages, n: 4, seed: 3, temperature: 1, max_tokens: 200, response_format: { type: 'json_schema', json_schema: { name: 'person', schema } } });
  assert.equal(r.choices.length, 4);
  for (const c of r.choices) {
    assert.equal(c.finish_reason, 'stop', c.message.content!);
    const v = JSON.parse(c.message.content!);
    assert.deepEqual(Object.keys(v).filter((k) => k !== 'pets'), ['name', 'age', 'member']);
    assert.equal(typeof v.name, 'string');
    assert.ok([...v.name].length <= 8, "maxLength counts characters (code points)");
    assert.ok(Number.isInteger(v.age));
    assert.equal(typeof v.member, 'boolean');
    for (const p of v.pets ?? []) assert.ok(['cat', 'dog'].includes(p));
  }
});

test('response_format json_object, streamed: the joined deltas parse as one JSON object', async () => {
  const stream = await client.chat.completions.create({ model: server.ctx.model.info.id, messages, seed: 5, temperature: 0.7, max_tokens: 300, stream: true, response_format: { type: 'json_object' } });
  let text = '';
  let finish: string | null = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  if (finish === 'stop') {
    const v = JSON.parse(text);
    assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), text);
  } else assert.match(text, /^\{/); // cut by max_tokens: still a prefix of an object
});

test('guided_choice and guided_regex (vLLM extension fields); the same seed gives the same text', async () => {
  const choices = ['yes', 'no', 'maybe not'];
  const r = await client.completions.create({ model: server.ctx.model.info.id, prompt: 'Is it?', n: 6, seed: 1, temperature: 1.2, max_tokens: 20, guided_choice: choices } as never);
  for (const c of r.choices) assert.ok(choices.includes(c.text), c.text);
  const body = { model: server.ctx.model.info.id, prompt: 'Date:', n: 3, seed: 2, temperature: 1, max_tokens: 30, guided_regex: '20\\d{2}-(0[1-9]|1[0-2])-[0-3]\\d' };
  const a = await client.completions.create(body as never);
  for (const c of a.choices) assert.match(c.text, /^20\d{2}-(0[1-9]|1[0-2])-[0-3]\d$/);
  const b = await client.completions.create(body as never);
  assert.deepEqual(b.choices.map((c) => c.text), a.choices.map((c) => c.text));
});

test("guided_grammar (vLLM's name) and grammar (llama.cpp's): every candidate is a text the GBNF grammar derives", async () => {
  const grammar = 'root ::= answer ("." | "!")\nanswer ::= "yes" | "no" | "it is " [0-9]{1,3} " " unit\nunit ::= "apples" | "pears"';
  const derived = /^(yes|no|it is [0-9]{1,3} (apples|pears))[.!]$/;
  for (const field of ['guided_grammar', 'grammar']) {
    const r = await client.chat.completions.create({ model: server.ctx.model.info.id, messages, n: 6, seed: 5, temperature: 1.2, max_tokens: 40, [field]: grammar } as never);
    for (const c of r.choices) {
      assert.match(c.message.content!, derived, field);
      assert.equal(c.finish_reason, 'stop');
    }
  }
});

test("structured_outputs (newer vLLM's one object for the guides): regex, choice, json, grammar, json_object", async () => {
  const id = server.ctx.model.info.id;
  const run = async (structured_outputs: Record<string, unknown>) => (await client.completions.create({ model: id, prompt: 'x', n: 2, seed: 6, temperature: 1, max_tokens: 60, structured_outputs } as never)).choices.map((c) => c.text);
  for (const t of await run({ regex: '[0-9]{2}-[a-z]{2}' })) assert.match(t, /^[0-9]{2}-[a-z]{2}$/);
  for (const t of await run({ choice: ['left', 'right'] })) assert.ok(['left', 'right'].includes(t), t);
  for (const t of await run({ json: { type: 'object', properties: { k: { type: 'boolean' } }, required: ['k'] } })) assert.equal(typeof JSON.parse(t).k, 'boolean');
  for (const t of await run({ grammar: 'root ::= "go " [a-c]{2}' })) assert.match(t, /^go [a-c]{2}$/);
  for (const t of await run({ json_object: true })) assert.equal(typeof JSON.parse(t), 'object');
});

test('guided decoding errors name the field (HTTP 400)', async () => {
  const bad = async (extra: Record<string, unknown>, param: string, message: RegExp) => {
    await assert.rejects(client.completions.create({ model: server.ctx.model.info.id, prompt: 'x', max_tokens: 5, ...extra } as never), (e: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(e.status, 400);
      assert.equal((e.error as { param?: string }).param, param, JSON.stringify(e.error));
      assert.match(e.message, message);
      return true;
    });
  };
  await bad({ guided_regex: '(ab' }, 'guided_regex', /missing \)/);
  await bad({ guided_regex: 'a', guided_choice: ['b'] }, 'guided_choice', /at most one/);
  await bad({ guided_choice: [] }, 'guided_choice', /1 to/);
  await bad({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { type: 'date' } } } } } }, 'response_format.json_schema.schema', /properties\.a\.type/);
  await bad({ guided_json: '{not json' }, 'guided_json', /not valid JSON/);
  await bad({ guided_regex: 'a+', ignore_eos: true }, 'ignore_eos', /ignoreEos|ignore_eos/);
  await bad({ guided_grammar: 'root ::= "a" b' }, 'guided_grammar', /1:14: rule 'b' is not defined/);
  await bad({ grammar: 'root ::= [z-a]' }, 'grammar', /GBNF grammar .*range must run upwards/);
  await bad({ grammar: 'root ::= "a"', guided_grammar: 'root ::= "a"' }, 'grammar', /one of guided_grammar/);
  await bad({ grammar: 'root ::= "a"', guided_regex: 'a' }, 'grammar', /at most one/);
  await bad({ structured_outputs: { regex: '(ab' } }, 'structured_outputs.regex', /missing \)/);
  await bad({ structured_outputs: { choice: ['a', ''] } }, 'structured_outputs.choice[1]', /1 to/);
  await bad({ structured_outputs: { regex: 'a', grammar: 'root ::= "a"' } }, 'structured_outputs.grammar', /at most one/);
  await bad({ structured_outputs: { regex: 'a' }, guided_regex: 'a' }, 'guided_regex', /structured_outputs or in guided_regex/);
  await bad({ structured_outputs: { whitespace_pattern: ' ' } }, 'structured_outputs.whitespace_pattern', /./);
});

test('gRPC: guided_regex, guided_choice, guided_json and guided_grammar; a bad pattern is INVALID_ARGUMENT naming the field', async () => {
  const unary = (req: Partial<GenerateRequestMsg>) =>
    new Promise<GenerateResponseMsg>((resolve, reject) => grpcClient.Generate!({ prompt: 'Q: 2+2? A:', max_tokens: 40, seed: 4, temperature: 1, n: 3, ...req }, (err: grpc.ServiceError | null, res: GenerateResponseMsg) => (err ? reject(err) : resolve(res))));
  for (const c of (await unary({ guided_regex: '[0-9]{1,3}( apples)?' })).candidates) assert.match(c.text, /^[0-9]{1,3}( apples)?$/);
  for (const c of (await unary({ guided_choice: ['four', '4'] })).candidates) assert.ok(['four', '4'].includes(c.text), c.text);
  for (const c of (await unary({ guided_json: JSON.stringify({ type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] }) })).candidates) assert.ok(Number.isInteger(JSON.parse(c.text).n), c.text);
  for (const c of (await unary({ guided_grammar: 'root ::= [0-9]{1,3} " " ("cats" | "dogs")' })).candidates) assert.match(c.text, /^[0-9]{1,3} (cats|dogs)$/);
  await assert.rejects(unary({ guided_grammar: 'root ::= x' }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && e.details.startsWith('guided_grammar'));
  await assert.rejects(unary({ guided_regex: 'a{5,1}' }), (e: grpc.ServiceError) => {
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
    assert.ok(e.details.startsWith('guided_regex'), e.details);
    return true;
  });
});

test('byte pieces (a byte-level random model): a guide that allows any text keeps the text valid UTF-8, characters spelled byte by byte', async () => {
  const body = { model: server.ctx.model.info.id, prompt: 'Q: 12+30? A:', n: 4, seed: 8, temperature: 0.9, max_tokens: 12 };
  const plain = await client.completions.create(body);
  assert.ok(plain.choices.some((c) => c.text.includes('\uFFFD')), 'unguided, this model writes invalid UTF-8');
  const guided = await client.completions.create({ ...body, guided_regex: '[\\s\\S]*' } as never);
  for (const c of guided.choices) assert.ok(!c.text.includes('\uFFFD'), JSON.stringify(c.text));
  assert.ok(guided.choices.some((c) => /[^\x00-\x7f]/.test(c.text)), 'some guided text holds characters of two or more bytes');
});

test('byte pieces: a guide that asks for non-ASCII characters gets them spelled byte by byte', async () => {
  const r = await client.completions.create({ model: server.ctx.model.info.id, prompt: 'x', n: 4, seed: 3, temperature: 1, max_tokens: 24, guided_regex: '(é|€|😀|ab){2,4}' } as never);
  for (const c of r.choices) {
    assert.equal(c.finish_reason, 'stop', JSON.stringify(c.text));
    assert.match(c.text, /^(é|€|😀|ab){2,4}$/u);
  }
});

test('on the default model (every token whole text), a guide that allows any text changes nothing: the same candidates and logprobs', async () => {
  // Plain sampling both ways (a guided request never speculates; an unguided sampled one would, and draw otherwise).
  const own = await startTestServer({ model: 'models/default', speculativeConfig: 'off' });
  try {
    const c = new OpenAI({ baseURL: `${own.http}/v1`, apiKey: 'none', maxRetries: 0 });
    const body = { model: own.ctx.model.info.id, prompt: 'Q: Tom has 12 apples. He buys 30 more. How many apples does Tom have now?\nA:', n: 4, seed: 8, temperature: 1, max_tokens: 40, logprobs: 2 };
    const plain = await c.completions.create(body);
    const guided = await c.completions.create({ ...body, guided_regex: '[\\s\\S]*' } as never);
    assert.deepEqual(guided.choices.map((x) => x.text), plain.choices.map((x) => x.text));
    assert.deepEqual(guided.choices.map((x) => x.logprobs!.token_logprobs), plain.choices.map((x) => x.logprobs!.token_logprobs));
  } finally {
    await own.close();
  }
});

const weather = {
  type: 'function' as const,
  function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 10 }, unit: { enum: ['c', 'f'] } }, required: ['city'] } },
};
const add = { type: 'function' as const, function: { name: 'add', parameters: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, required: ['a', 'b'] } } };

test('tools: a named tool_choice makes every candidate call it (tool_calls, arguments JSON of its parameters)', async () => {
  const r = await client.chat.completions.create({ model: server.ctx.model.info.id, messages, n: 3, seed: 4, temperature: 1, max_tokens: 120, tools: [weather, add], tool_choice: { type: 'function', function: { name: 'get_weather' } } });
  for (const c of r.choices) {
    assert.equal(c.finish_reason, 'tool_calls');
    assert.equal(c.message.content, null);
    assert.equal(c.message.tool_calls!.length, 1);
    const call = c.message.tool_calls![0]! as { id: string; type: string; function: { name: string; arguments: string } };
    assert.match(call.id, /^call_/);
    assert.equal(call.function.name, 'get_weather');
    const args = JSON.parse(call.function.arguments);
    assert.equal(typeof args.city, 'string');
    assert.ok(args.unit === undefined || ['c', 'f'].includes(args.unit));
  }
});

test("tools: 'required' calls one of the tools (one call without parallel_tool_calls); streams: a named call's arguments piece by piece, required calls too, as the unstreamed response has them", async () => {
  const r = await client.chat.completions.create({ model: server.ctx.model.info.id, messages, n: 3, seed: 6, temperature: 1, max_tokens: 150, tools: [weather, add], tool_choice: 'required', parallel_tool_calls: false });
  for (const c of r.choices) {
    assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(c.message));
    assert.equal(c.message.tool_calls!.length, 1);
    const f = (c.message.tool_calls![0]! as { function: { name: string; arguments: string } }).function;
    assert.ok(['get_weather', 'add'].includes(f.name));
    const args = JSON.parse(f.arguments);
    if (f.name === 'add') assert.ok(Number.isInteger(args.a) && Number.isInteger(args.b));
  }
  const stream = await client.chat.completions.create({ model: server.ctx.model.info.id, messages, seed: 7, temperature: 1, max_tokens: 120, tools: [add], tool_choice: { type: 'function', function: { name: 'add' } }, stream: true });
  const read = async (s: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) => {
    const calls: { name?: string; id?: string; arguments: string }[] = [];
    let finish: string | null = null;
    let pieces = 0;
    let logprobs = 0;
    for await (const chunk of s) {
      logprobs += chunk.choices[0]?.logprobs?.content?.length ?? 0;
      for (const t of chunk.choices[0]?.delta.tool_calls ?? []) {
        calls[t.index] ??= { arguments: '' };
        if (t.function?.name) calls[t.index]!.name = t.function.name;
        if (t.id) calls[t.index]!.id = t.id;
        if (t.function?.arguments) pieces++;
        calls[t.index]!.arguments += t.function?.arguments ?? '';
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    return { calls, finish, pieces, logprobs };
  };
  const named = await read(stream);
  assert.equal(named.finish, 'tool_calls');
  assert.equal(named.calls.length, 1);
  assert.equal(named.calls[0]!.name, 'add');
  assert.match(named.calls[0]!.id!, /^call_/);
  assert.ok(named.pieces > 1, 'a named call streams its arguments piece by piece');
  assert.ok(Number.isInteger(JSON.parse(named.calls[0]!.arguments).a));
  const body = { model: server.ctx.model.info.id, messages, seed: 7, temperature: 1, max_tokens: 150, tools: [weather, add], tool_choice: 'required' as const, logprobs: true };
  const required = await read(await client.chat.completions.create({ ...body, stream: true }));
  assert.equal(required.finish, 'tool_calls');
  assert.ok(required.calls.length >= 1);
  for (const c of required.calls) assert.ok(['get_weather', 'add'].includes(c.name!) && typeof JSON.parse(c.arguments) === 'object');
  assert.ok(required.pieces > required.calls.length, 'required calls stream their arguments piece by piece');
  const whole = await client.chat.completions.create(body);
  assert.equal(required.logprobs, whole.choices[0]!.logprobs!.content!.length, 'every token\'s logprob streams');
  assert.deepEqual(
    required.calls.map((c) => ({ name: c.name, arguments: c.arguments })),
    whole.choices[0]!.message.tool_calls!.map((t) => ({ name: (t as { function: { name: string } }).function.name, arguments: (t as { function: { arguments: string } }).function.arguments })),
  );
});

test('tools: a conversation with an earlier call and its result goes to the template; bad tool fields are 400s naming them', async () => {
  const history = [
    { role: 'user' as const, content: 'What is 2+3?' },
    { role: 'assistant' as const, content: null, tool_calls: [{ id: 'call_1', type: 'function' as const, function: { name: 'add', arguments: '{"a":2,"b":3}' } }] },
    { role: 'tool' as const, tool_call_id: 'call_1', content: '5' },
  ];
  const r = await client.chat.completions.create({ model: server.ctx.model.info.id, messages: history, max_tokens: 8, tools: [add], tool_choice: 'none' });
  assert.equal(typeof r.choices[0]!.message.content, 'string');
  const bad = async (extra: Record<string, unknown>, param: string, message: RegExp) => {
    await assert.rejects(client.chat.completions.create({ model: server.ctx.model.info.id, messages, max_tokens: 5, ...extra } as never), (e: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(e.status, 400);
      assert.equal((e.error as { param?: string }).param, param, JSON.stringify(e.error));
      assert.match(e.message, message);
      return true;
    });
  };
  await bad({ tools: [add] }, 'tool_choice', /'auto'/);
  await bad({ tools: [add], tool_choice: 'auto' }, 'tool_choice', /parser/);
  await bad({ tool_choice: 'required' }, 'tool_choice', /needs tools/);
  await bad({ tools: [add], tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice', /not among the tools/);
  await bad({ tools: [add, add], tool_choice: 'required' }, 'tools[1].function.name', /twice/);
  await bad({ tools: [{ type: 'function', function: { name: 'x', parameters: { type: 'object', properties: { a: { type: 'when' } } } } }], tool_choice: 'required' }, 'tools[0].function.parameters', /properties\.a\.type/);
  await bad({ tools: [add], tool_choice: 'required', response_format: { type: 'json_object' } }, 'tool_choice', /drop response_format/);
  await bad({ messages: [{ role: 'tool', content: '5' }] }, 'messages[0].tool_call_id', /tool_call_id/);
  // A pattern too large for the engine is refused at the edge (the worker never compiles it).
  const huge = { type: 'function', function: { name: 'huge', parameters: { type: 'object', properties: Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`p${i}`, { type: 'string', maxLength: 1000 }])) } } };
  await bad({ tools: [huge], tool_choice: { type: 'function', function: { name: 'huge' } } }, 'tools[0].function.parameters', /too large/);
  await bad({ tools: [huge, add], tool_choice: 'required' }, 'tools', /too large/);
});
