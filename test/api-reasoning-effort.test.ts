// OpenAI's reasoning_effort (chat), reasoning.effort (Responses) and gRPC's reasoning_effort reach the
// chat template as its `reasoning_effort` variable, as vLLM passes it: a model whose template reads it
// (a copy of the test checkpoint with such a template) renders it into the prompt, called with the
// unmodified `openai` client and grpc-js; /tokenize renders it as a request does. Chat's
// prompt_cache_key and safety_identifier are accepted. A value outside OpenAI's, one that
// chat_template_kwargs contradicts, or one beside a plain prompt is refused naming the field.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import OpenAI from 'openai';
import type { GenerateRequestMsg, GenerateResponseMsg } from '../src/api/grpc/messages.ts';
import { inferenceClient, type InferenceClient } from './helpers/grpc-client.ts';
import { startTestServer, testCheckpoint, type TestServer } from './helpers/start-server.ts';

let server: TestServer;
let client: OpenAI;
let grpcClient: InferenceClient;
let dir: string;
let model: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'skipserve-effort-'));
  const copy = join(dir, 'model');
  cpSync(testCheckpoint(), copy, { recursive: true });
  const cfgPath = join(copy, 'tokenizer_config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  cfg.chat_template = "{% if reasoning_effort is defined %}effort {{ reasoning_effort }}\n{% endif %}" + cfg.chat_template;
  writeFileSync(cfgPath, JSON.stringify(cfg));
  server = await startTestServer({ model: copy });
  model = server.ctx.model.info.id;
  client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'none', maxRetries: 0 });
  grpcClient = inferenceClient(server.grpcPort);
});
after(async () => {
  grpcClient?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const messages = [{ role: 'user' as const, content: 'What is 2+3?' }];

async function post(path: string, body: Record<string, unknown>): Promise<{ status: number; json: Record<string, any> }> {
  const r = await fetch(server.http + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, any> };
}

async function tokenized(body: Record<string, unknown>): Promise<{ count: number; text: string }> {
  const t = await post('/tokenize', { messages, ...body });
  assert.equal(t.status, 200, JSON.stringify(t.json));
  const d = await post('/detokenize', { tokens: t.json.tokens });
  return { count: t.json.count, text: d.json.prompt };
}

test('reasoning_effort is the template variable on chat, /tokenize, Responses and gRPC', async () => {
  const plain = await tokenized({});
  const high = await tokenized({ reasoning_effort: 'high' });
  assert.ok(!plain.text.includes('effort'));
  assert.ok(high.text.includes('effort high\n'), high.text);
  assert.deepEqual(await tokenized({ chat_template_kwargs: { reasoning_effort: 'high' } }), high, 'as chat_template_kwargs would pass it');
  assert.deepEqual(await tokenized({ reasoning_effort: 'high', chat_template_kwargs: { reasoning_effort: 'high' } }), high, 'both saying the same');

  const chat = await client.chat.completions.create({ model, messages, max_tokens: 3, temperature: 0, reasoning_effort: 'high', prompt_cache_key: 'k1', safety_identifier: 'user-1' } as never);
  assert.equal((chat as OpenAI.Chat.Completions.ChatCompletion).usage!.prompt_tokens, high.count);
  const none = await client.chat.completions.create({ model, messages, max_tokens: 3, temperature: 0 });
  assert.equal(none.usage!.prompt_tokens, plain.count);

  const resp = await client.responses.create({ model, input: messages, max_output_tokens: 3, temperature: 0, reasoning: { effort: 'high' } } as never);
  assert.equal((resp as OpenAI.Responses.Response).usage!.input_tokens, high.count);
  assert.equal((resp as OpenAI.Responses.Response).reasoning!.effort, 'high');

  const g = await new Promise<GenerateResponseMsg>((resolve, reject) =>
    grpcClient.Generate!({ messages: [{ role: 'user', content: messages[0]!.content }], max_tokens: 3, temperature: 0, reasoning_effort: 'high' } as Partial<GenerateRequestMsg>, (err: grpc.ServiceError | null, res: GenerateResponseMsg) => (err ? reject(err) : resolve(res))),
  );
  assert.equal(g.usage.prompt_tokens, high.count);
});

test('a bad reasoning effort is refused naming its field', async () => {
  const refused = async (path: string, body: Record<string, unknown>, param: string) => {
    const r = await post(path, body);
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.equal(r.json.error.param, param, JSON.stringify(r.json));
  };
  await refused('/v1/chat/completions', { messages, reasoning_effort: 'extreme' }, 'reasoning_effort');
  await refused('/v1/chat/completions', { messages, reasoning_effort: 'low', chat_template_kwargs: { reasoning_effort: 'high' } }, 'reasoning_effort');
  await refused('/tokenize', { prompt: 'x', reasoning_effort: 'low' }, 'reasoning_effort');
  await refused('/v1/responses', { input: 'x', reasoning: { effort: 'extreme' } }, 'reasoning.effort');
  await refused('/v1/responses', { input: 'x', reasoning: { effort: 'low', summary: 'auto' } }, 'reasoning.summary');
  const grpcRefused = (req: Partial<GenerateRequestMsg>) =>
    assert.rejects(
      new Promise((resolve, reject) => grpcClient.Generate!({ max_tokens: 2, ...req }, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)))),
      (e: grpc.ServiceError) => {
        assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
        assert.ok(e.details.startsWith('reasoning_effort'), e.details);
        return true;
      },
    );
  await grpcRefused({ prompt: 'x', reasoning_effort: 'low' });
  await grpcRefused({ messages: [{ role: 'user', content: 'x' }] as GenerateRequestMsg['messages'], reasoning_effort: 'extreme' });
});
