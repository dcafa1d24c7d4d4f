// vLLM's request extensions end to end on the default model (real server on loopback, the `openai`
// client sending them as extra body keys, grpc-js): repetition_penalty, stop_token_ids, min_tokens,
// include_stop_str_in_output, skip_special_tokens, priority, truncate_prompt_tokens, add_generation_prompt,
// continue_final_message, allowed_token_ids, bad_words and prompt_logprobs; and the repetition penalty's arithmetic against a hand
// computation.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import * as grpc from '@grpc/grpc-js';
import type { GenerateRequestMsg, GenerateResponseMsg } from '../src/api/grpc/messages.ts';
import { processLogits, TokenCounts } from '../src/sampling/logit-processors.ts';
import { startTestServer, type TestServer } from './helpers/start-server.ts';
import { inferenceClient } from './helpers/grpc-client.ts';

let server: TestServer;
let client: OpenAI;
let grpcClient: grpc.Client & Record<string, Function>;

before(async () => {
  server = await startTestServer({ model: 'models/default' });
  client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'none', maxRetries: 0 });
  grpcClient = inferenceClient(server.grpcPort);
});
after(async () => {
  grpcClient?.close();
  await server?.close();
});

const prompt = 'Q: Tom has 12 apples. He buys 30 more. How many apples does Tom have now?\nA:';
const greedy = { prompt, max_tokens: 40, temperature: 0 };
const complete = async (extra: Record<string, unknown>) => (await client.completions.create({ model: server.ctx.model.info.id, ...greedy, ...extra } as never)).choices[0]!;

async function tokenId(text: string): Promise<number> {
  const r = await fetch(`${server.http}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: text, add_special_tokens: false }) });
  const { tokens } = (await r.json()) as { tokens: number[] };
  assert.equal(tokens.length, 1, `'${text}' is one token`);
  return tokens[0]!;
}

test('repetition_penalty: a seen token\'s logit divided when positive, multiplied when negative, over the prompt\'s and the generated tokens, once each', () => {
  const counts = new TokenCounts([0, 1, 1]);
  counts.add(3);
  counts.add(3);
  const out = processLogits(new Float32Array([2, -1, 0.5, 4, 1]), new Float32Array(5), { temperature: 1, topP: 1, topK: 0, repetitionPenalty: 2 }, counts);
  assert.deepEqual([...out], [1, -2, 0.5, 2, 1]);
});

test('allowed_token_ids cuts every other token; bad_words cuts a sequence\'s last token where the rest was just generated', () => {
  const counts = new TokenCounts([], true);
  for (const t of [7, 3]) counts.add(t);
  const p = { temperature: 1, topP: 1, topK: 0 };
  const logits = new Float32Array([0.5, 1, 2, 3, 4, 5]);
  assert.deepEqual([...processLogits(logits, new Float32Array(6), { ...p, allowedTokenIds: [1, 4] }, counts)], [-Infinity, 1, -Infinity, -Infinity, 4, -Infinity]);
  assert.deepEqual([...processLogits(logits, new Float32Array(6), { ...p, badWords: [[3, 5], [7, 4], [2]] }, counts)], [0.5, 1, -Infinity, 3, 4, -Infinity]);
});

test('allowed_token_ids: only the listed tokens are drawn, at any temperature', async () => {
  const digits = await Promise.all([...'0123456789'].map(tokenId));
  const r = await client.completions.create({ model: server.ctx.model.info.id, prompt, n: 4, seed: 2, temperature: 1.2, max_tokens: 12, ignore_eos: true, allowed_token_ids: digits } as never);
  for (const c of r.choices) assert.match(c.text, /^[0-9]{12}$/);
});

test('bad_words: the words never appear, as written or after a space', async () => {
  const plain = await complete({});
  assert.ok(plain.text.includes('The answer'), plain.text);
  const banned = await complete({ bad_words: ['answer', 'The'] });
  assert.ok(!/answer|The/.test(banned.text), banned.text);
  const sampled = await client.completions.create({ model: server.ctx.model.info.id, prompt, n: 6, seed: 4, temperature: 1, max_tokens: 40, bad_words: ['answer'] } as never);
  for (const c of sampled.choices) assert.ok(!c.text.includes('answer'), c.text);
});

test('repetition_penalty changes greedy text (the answer repeats the prompt\'s numbers); the same request gives the same text', async () => {
  const plain = await complete({});
  const a = await complete({ repetition_penalty: 5, logprobs: 1 });
  assert.equal((await complete({ repetition_penalty: 5 })).text, a.text);
  assert.notEqual(a.text, plain.text, plain.text);
  assert.ok(a.logprobs!.token_logprobs![0]! < -1, 'the first token is not the model\'s favourite: the prompt\'s tokens are penalized');
  assert.equal((await complete({ repetition_penalty: 1 })).text, plain.text, '1 is off');
});

test('stop_token_ids end the text before the token, as end-of-sequence does, also with ignore_eos', async () => {
  const plain = await complete({ ignore_eos: true });
  const digit = /[0-9]/.exec(plain.text)![0];
  const id = await tokenId(digit);
  for (const ignore_eos of [false, true]) {
    const c = await complete({ stop_token_ids: [id], ignore_eos });
    assert.equal(c.finish_reason, 'stop');
    assert.equal(c.text, plain.text.slice(0, plain.text.indexOf(digit)));
  }
});

test('min_tokens: no end-of-sequence, stop token or stop string before that many tokens', async () => {
  const eos = server.ctx.model.info.eosTokenIds[0]!;
  const ended = await client.completions.create({ model: server.ctx.model.info.id, ...greedy, logit_bias: { [eos]: 100 } } as never);
  assert.equal(ended.usage!.completion_tokens, 0, 'end-of-sequence forced at once');
  const held = await client.completions.create({ model: server.ctx.model.info.id, ...greedy, logit_bias: { [eos]: 100 }, min_tokens: 5 } as never);
  assert.equal(held.usage!.completion_tokens, 5);
  assert.equal(held.choices[0]!.finish_reason, 'stop');
  const plain = await complete({ ignore_eos: true });
  const stop = plain.text.slice(0, 2);
  assert.equal((await complete({ stop, ignore_eos: true })).text, '', 'the stop string opens the text');
  const late = await complete({ stop, ignore_eos: true, min_tokens: 4 });
  assert.ok(late.text.startsWith(stop) && plain.text.startsWith(late.text), JSON.stringify(late.text));
});

test('include_stop_str_in_output keeps the stop string that ended the text, streamed as unstreamed', async () => {
  const plain = await complete({ ignore_eos: true });
  const stop = plain.text.slice(6, 8);
  const cut = plain.text.slice(0, plain.text.indexOf(stop));
  assert.equal((await complete({ stop, ignore_eos: true })).text, cut);
  const kept = await complete({ stop, ignore_eos: true, include_stop_str_in_output: true });
  assert.equal(kept.text, cut + stop);
  assert.equal(kept.finish_reason, 'stop');
  const stream = await client.completions.create({ model: server.ctx.model.info.id, ...greedy, stop, ignore_eos: true, include_stop_str_in_output: true, stream: true } as never);
  let text = '';
  for await (const chunk of stream as unknown as AsyncIterable<OpenAI.Completion>) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, cut + stop);
});

test('skip_special_tokens: false keeps the special tokens\' text, streamed as unstreamed, on chat too; the default skips it', async () => {
  // <pad> (id 3) and <unk> (0) are special; end-of-sequence (</s>) still ends the text without showing.
  const forced = { max_tokens: 4, ignore_eos: true, allowed_token_ids: [3, 0], logit_bias: { '3': 100 } };
  const skipped = await complete(forced);
  assert.equal(skipped.text, '');
  const kept = await complete({ ...forced, skip_special_tokens: false });
  assert.equal(kept.text, '<pad>'.repeat(4));
  const stream = await client.completions.create({ model: server.ctx.model.info.id, ...greedy, ...forced, skip_special_tokens: false, stream: true } as never);
  let text = '';
  for await (const chunk of stream as unknown as AsyncIterable<OpenAI.Completion>) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, kept.text);
  const chat = await client.chat.completions.create({ model: server.ctx.model.info.id, messages: [{ role: 'user', content: 'Hi' }], temperature: 0, ...forced, max_tokens: 2, skip_special_tokens: false } as never);
  assert.equal(chat.choices[0]!.message.content, '<pad><pad>');
  const eos = server.ctx.model.info.eosTokenIds[0]!;
  const ended = await complete({ max_tokens: 4, logit_bias: { [eos]: 100 }, skip_special_tokens: false });
  assert.equal(ended.text, '');
  assert.equal(ended.finish_reason, 'stop');
});

test('priority: while every row is busy, a queued urgent request is admitted before an earlier queued one', async () => {
  const body = { model: server.ctx.model.info.id, prompt, n: 8, temperature: 0, ignore_eos: true };
  const busy = await client.completions.create({ ...body, max_tokens: 400, stream: true } as never);
  const it = (busy as unknown as AsyncIterable<OpenAI.Completion>)[Symbol.asyncIterator]();
  await it.next(); // the busy request is running: its 8 rows fill the batch
  const order: string[] = [];
  const late = client.completions.create({ ...body, max_tokens: 4, priority: 3 } as never).then(() => order.push('late'));
  const urgent = client.completions.create({ ...body, max_tokens: 4, priority: -3 } as never).then(() => order.push('urgent'));
  while (!(await it.next()).done);
  await Promise.all([late, urgent]);
  assert.deepEqual(order, ['urgent', 'late']);
});

const question = 'Tom has 12 apples. He buys 30 more. How many apples does Tom have now?';
const post = async (path: string, body: unknown) => (await fetch(`${server.http}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<Record<string, any>>;

test('continue_final_message: the candidates continue the final assistant message (no end of turn after it); /tokenize renders the same', async () => {
  const messages = [{ role: 'user' as const, content: question }, { role: 'assistant' as const, content: ' 12+30=' }];
  const plain = await client.chat.completions.create({ model: server.ctx.model.info.id, messages: messages.slice(0, 1), max_tokens: 40, temperature: 0 });
  assert.equal(plain.choices[0]!.message.content, ' 12+30=42. The answer is 42.', 'the greedy answer this test continues');
  const cont = await client.chat.completions.create({ model: server.ctx.model.info.id, messages, continue_final_message: true, max_tokens: 40, temperature: 0 } as never);
  assert.equal(cont.choices[0]!.message.content, '42. The answer is 42.');
  assert.equal((cont.choices[0] as unknown as { answer: string }).answer, '42');
  const t = await post('/tokenize', { messages, continue_final_message: true });
  assert.equal(t.count, cont.usage!.prompt_tokens);
  assert.match((await post('/detokenize', { tokens: t.tokens })).prompt, /\nA: 12\+30=$/);
  assert.equal((await post('/tokenize', { messages, continue_final_message: true, chat_template_kwargs: { enable_thinking: false } })).count, t.count, 'a variable the template does not use changes nothing');
  const closed = await post('/tokenize', { messages: messages.slice(0, 1), add_generation_prompt: false });
  const open = await post('/tokenize', { messages: messages.slice(0, 1) });
  assert.deepEqual(open.tokens.slice(0, closed.count), closed.tokens);
  assert.equal((await post('/detokenize', { tokens: open.tokens.slice(closed.count) })).prompt, 'A:', "add_generation_prompt false leaves out the template's 'A:'");
});

test('truncate_prompt_tokens keeps the prompt\'s last tokens (echo shows them)', async () => {
  const r = await client.completions.create({ model: server.ctx.model.info.id, prompt, max_tokens: 2, temperature: 0, echo: true, truncate_prompt_tokens: 5 } as never);
  assert.equal(r.usage!.prompt_tokens, 5);
  assert.ok(r.choices[0]!.text.startsWith(' now?\nA:'), JSON.stringify(r.choices[0]!.text));
  const whole = await client.completions.create({ model: server.ctx.model.info.id, prompt, max_tokens: 2, temperature: 0, truncate_prompt_tokens: 1000 } as never);
  assert.equal(whole.usage!.prompt_tokens, (await post('/tokenize', { prompt })).count, 'a longer limit keeps the whole prompt');
});

test('prompt_logprobs: each prompt token\'s log-probability and alternatives, as echo with logprobs scores them', async () => {
  const { tokens } = (await post('/tokenize', { prompt })) as { tokens: number[] };
  const r = (await client.completions.create({ model: server.ctx.model.info.id, prompt, max_tokens: 2, temperature: 0, prompt_logprobs: 2 } as never)) as unknown as { choices: { prompt_logprobs: (Record<string, { logprob: number; rank: number | null; decoded_token: string }> | null)[] }[] };
  const pl = r.choices[0]!.prompt_logprobs;
  assert.equal(pl.length, tokens.length);
  assert.equal(pl[0], null);
  const echo = await client.completions.create({ model: server.ctx.model.info.id, prompt, max_tokens: 1, temperature: 0, echo: true, logprobs: 2 });
  for (let i = 1; i < tokens.length; i++) {
    const own = pl[i]![tokens[i]!]!;
    assert.ok(Math.abs(own.logprob - echo.choices[0]!.logprobs!.token_logprobs![i]!) < 1e-6, `token ${i}`);
    assert.ok(Object.keys(pl[i]!).length >= 2 && Object.keys(pl[i]!).length <= 3);
    if (own.rank !== null) assert.ok(own.rank >= 1 && own.rank <= 2);
  }
  const chat = (await client.chat.completions.create({ model: server.ctx.model.info.id, messages: [{ role: 'user', content: question }], max_tokens: 2, prompt_logprobs: 0 } as never)) as unknown as { prompt_logprobs: unknown[]; usage: { prompt_tokens: number } };
  assert.equal(chat.prompt_logprobs.length, chat.usage.prompt_tokens, 'chat: at the top level, as vLLM returns it');
});

test('stream_options.continuous_usage_stats: every chunk says the usage so far; the last, the whole', async () => {
  const s = await client.completions.create({ model: server.ctx.model.info.id, prompt, n: 2, max_tokens: 12, temperature: 1, seed: 3, stream: true, stream_options: { continuous_usage_stats: true } } as never);
  const seen: { prompt_tokens: number; completion_tokens: number; total_tokens: number }[] = [];
  for await (const chunk of s as unknown as AsyncIterable<{ usage?: (typeof seen)[number] }>) if (chunk.usage) seen.push(chunk.usage);
  assert.ok(seen.length > 3);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.completion_tokens >= seen[i - 1]!.completion_tokens);
  const last = seen.at(-1)!;
  assert.equal(seen.at(-2)!.completion_tokens, last.completion_tokens, 'the final chunk\'s usage is the last running one');
  assert.equal(last.prompt_tokens, (await post('/tokenize', { prompt })).count);
  assert.equal(last.total_tokens, last.prompt_tokens + last.completion_tokens);
});

test('bad values are 400s naming the field', async () => {
  const bad = async (body: Record<string, unknown>, param: string) => {
    await assert.rejects(client.completions.create({ model: server.ctx.model.info.id, prompt, max_tokens: 8, ...body } as never), (e: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(e.status, 400, JSON.stringify(e.error));
      assert.equal((e.error as { param: string | null }).param, param, JSON.stringify(e.error));
      const domain = param.split(/[.[]/)[0]!.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
      assert.ok(domain === param.split(/[.[]/)[0] || !e.message.includes(domain), `the message names the field as sent: ${e.message}`);
      return true;
    });
  };
  await bad({ repetition_penalty: 0 }, 'repetition_penalty');
  await bad({ repetition_penalty: 11 }, 'repetition_penalty');
  await bad({ stop_token_ids: [99999] }, 'stop_token_ids[0]');
  await bad({ stop_token_ids: [1, -1] }, 'stop_token_ids[1]');
  await bad({ stop_token_ids: Array.from({ length: 65 }, (_, i) => i) }, 'stop_token_ids');
  await bad({ min_tokens: 9 }, 'min_tokens');
  await bad({ min_tokens: 1.5 }, 'min_tokens');
  await bad({ min_tokens: 2, guided_regex: '[0-9]+' }, 'min_tokens');
  await bad({ include_stop_str_in_output: 'yes' }, 'include_stop_str_in_output');
  await bad({ priority: 0.5 }, 'priority');
  await bad({ priority: 2 ** 40 }, 'priority');
  await bad({ truncate_prompt_tokens: 0 }, 'truncate_prompt_tokens');
  await bad({ prompt_logprobs: 21 }, 'prompt_logprobs');
  await bad({ prompt_logprobs: 1, stream: true }, 'prompt_logprobs');
  await bad({ allowed_token_ids: [] }, 'allowed_token_ids');
  await bad({ allowed_token_ids: [5, 99999] }, 'allowed_token_ids[1]');
  await bad({ allowed_token_ids: [5], guided_regex: '[0-9]+' }, 'allowed_token_ids');
  await bad({ allowed_token_ids: [server.ctx.model.info.eosTokenIds[0]], min_tokens: 2 }, 'allowed_token_ids');
  await bad({ bad_words: ['  '] }, 'bad_words[0]');
  await bad({ bad_words: Array.from({ length: 65 }, (_, i) => `w${i}`) }, 'bad_words');
  const chat = async (body: Record<string, unknown>, param: string) => {
    await assert.rejects(client.chat.completions.create({ model: server.ctx.model.info.id, max_tokens: 8, ...body } as never), (e: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(e.status, 400, JSON.stringify(e.error));
      assert.equal((e.error as { param: string | null }).param, param, JSON.stringify(e.error));
      return true;
    });
  };
  const user = { role: 'user', content: question };
  await chat({ messages: [user], continue_final_message: true }, 'messages[0].role');
  await chat({ messages: [user, { role: 'assistant', content: '' }], continue_final_message: true }, 'messages[1].content');
  await chat({ messages: [user, { role: 'assistant', content: '12' }], continue_final_message: true, add_generation_prompt: true }, 'add_generation_prompt');
  await bad({ continue_final_message: true }, 'continue_final_message');
  await chat({ messages: [user], chat_template_kwargs: { messages: [] } }, 'chat_template_kwargs.messages');
  await bad({ chat_template_kwargs: { enable_thinking: true } }, 'chat_template_kwargs');
});

test('gRPC: the same fields; a bad one is INVALID_ARGUMENT naming it', async () => {
  const unary = (req: Partial<GenerateRequestMsg>) =>
    new Promise<GenerateResponseMsg>((resolve, reject) => grpcClient.Generate!({ prompt, max_tokens: 40, temperature: 0, ...req }, (err: grpc.ServiceError | null, res: GenerateResponseMsg) => (err ? reject(err) : resolve(res))));
  const plain = (await unary({ ignore_eos: true })).candidates[0]!;
  const natural = (await unary({})).candidates[0]!;
  const id = plain.token_ids[3]!;
  assert.deepEqual((await unary({ ignore_eos: true, priority: -7 })).candidates[0]!.token_ids, plain.token_ids, 'a priority changes when, not what');
  const stopped = (await unary({ stop_token_ids: [id], ignore_eos: true })).candidates[0]!;
  assert.deepEqual(stopped.token_ids, plain.token_ids.slice(0, plain.token_ids.indexOf(id)));
  assert.equal(stopped.finish_reason, 'stop');
  const eos = server.ctx.model.info.eosTokenIds[0]!;
  assert.equal((await unary({ logit_bias: { [eos]: 100 }, min_tokens: 3 })).candidates[0]!.token_ids.length, 3);
  const stop = plain.text.slice(6, 8);
  assert.ok((await unary({ stop: [stop], ignore_eos: true, include_stop_str_in_output: true })).candidates[0]!.text.endsWith(stop));
  assert.notEqual((await unary({ repetition_penalty: 5 })).candidates[0]!.text, natural.text);
  const digits = await Promise.all([...'0123456789'].map(tokenId));
  assert.ok((await unary({ allowed_token_ids: digits, ignore_eos: true, max_tokens: 6 })).candidates[0]!.token_ids.every((t) => digits.includes(t)));
  assert.ok(!(await unary({ bad_words: ['answer'] })).candidates[0]!.text.includes('answer'));
  assert.equal((await unary({ allowed_token_ids: [3], ignore_eos: true, max_tokens: 2, skip_special_tokens: false })).candidates[0]!.text, '<pad><pad>');
  assert.equal((await unary({ allowed_token_ids: [3], ignore_eos: true, max_tokens: 2 })).candidates[0]!.text, '');
  await assert.rejects(unary({ repetition_penalty: 20 }), (e: grpc.ServiceError) => {
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
    assert.ok(e.details.startsWith('repetition_penalty'), e.details);
    return true;
  });
});
