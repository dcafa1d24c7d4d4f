// --max-model-len (vLLM's flag) end to end on the real server: requests are held to the shorter
// context everywhere a context applies (the prompt, prompt + max_tokens, the default max_tokens,
// embeddings, what /v1/models and /tokenize report), and a length past the model's own context
// refuses to start, naming the flag.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { ConfigError } from '../src/errors.ts';
import { startTestServer, type TestServer } from './helpers/start-server.ts';

let server: TestServer;
let client: OpenAI;
before(async () => {
  server = await startTestServer({ maxModelLen: 40 });
  client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'none', maxRetries: 0 });
});
after(async () => {
  await server?.close();
});

const post = async (path: string, body: unknown) => {
  const res = await fetch(`${server.http}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};

test('the served context is the flag: /v1/models and /tokenize report it; prompts and max_tokens are held to it', async () => {
  const models = await client.models.list();
  assert.equal((models.data[0] as unknown as { max_model_len: number }).max_model_len, 40);
  const prompt = 'one two three';
  const tok = await post('/tokenize', { prompt });
  assert.equal(tok.body.max_model_len, 40);
  const n = tok.body.count as number;
  assert.ok(n > 1 && n < 40);
  const fits = await client.completions.create({ model: server.ctx.model.info.id, prompt, max_tokens: 40 - n, temperature: 0, ignore_eos: true } as never);
  assert.equal(fits.usage!.completion_tokens, 40 - n);
  const over = await post('/v1/completions', { prompt, max_tokens: 41 - n });
  assert.deepEqual([over.status, over.body.error.param, over.body.error.code], [400, 'max_tokens', 'context_length_exceeded']);
  // Without max_tokens the default (256) is capped by the served context.
  const open = await client.completions.create({ model: server.ctx.model.info.id, prompt, temperature: 0, ignore_eos: true } as never);
  assert.deepEqual([open.usage!.prompt_tokens + open.usage!.completion_tokens, open.choices[0]!.finish_reason], [40, 'length']);
  const long = await post('/v1/completions', { prompt: Array.from({ length: 50 }, (_, i) => `w${i}`).join(' '), max_tokens: 1 });
  assert.deepEqual([long.status, long.body.error.param, long.body.error.code], [400, 'prompt', 'context_length_exceeded']);
  const embed = await post('/v1/embeddings', { input: [Array.from({ length: 41 }, () => 5)] });
  assert.deepEqual([embed.status, embed.body.error.param], [400, 'input']);
});

test('a --max-model-len past the model\'s context refuses to start, naming the flag', async () => {
  await assert.rejects(startTestServer({ maxModelLen: 100_000 }), (e: ConfigError) => e instanceof ConfigError && /--max-model-len 100000 is longer than the model's context of 256/.test(e.message));
});
