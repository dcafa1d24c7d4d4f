// POST /tokenize and /detokenize (vLLM's routes): the ids are the ones a completion request feeds
// (its usage counts them), chat messages go through the same template, ids decode back to the
// text, bad input names the field, and the routes sit behind the API key. Model ids may hold '/'.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from './helpers/start-server.ts';

let server: TestServer;
let locked: TestServer;
before(async () => {
  server = await startTestServer();
  locked = await startTestServer({ apiKey: 'secret-key', modelId: 'org/tiny' });
});
after(async () => {
  await server?.close();
  await locked?.close();
});

const post = async (s: TestServer, path: string, body: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(`${s.http}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};

test('a prompt and chat messages tokenize to what a completion feeds; ids decode back', async () => {
  const prompt = 'Q: 12+30? A:';
  const t = await post(server, '/tokenize', { prompt });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  assert.equal(t.body.count, t.body.tokens.length);
  assert.equal(t.body.max_model_len, 256);
  const done = await post(server, '/v1/completions', { prompt, max_tokens: 2 });
  assert.equal(done.body.usage.prompt_tokens, t.body.count, 'a completion feeds as many tokens');

  const messages = [{ role: 'user', content: [{ type: 'text', text: 'Hello' }, { type: 'text', text: ' there' }] }];
  const m = await post(server, '/tokenize', { messages, model: server.ctx.model.info.id });
  assert.equal(m.status, 200, JSON.stringify(m.body));
  const chat = await post(server, '/v1/chat/completions', { messages, max_tokens: 2 });
  assert.equal(chat.body.usage.prompt_tokens, m.body.count, 'the same chat template');
  const noGen = await post(server, '/tokenize', { messages, add_generation_prompt: false });
  assert.ok(noGen.body.count < m.body.count, 'without the assistant header');

  const plain = await post(server, '/tokenize', { prompt, add_special_tokens: false });
  assert.ok(plain.body.count < t.body.count, 'without BOS');
  const back = await post(server, '/detokenize', { tokens: plain.body.tokens });
  assert.equal(back.status, 200);
  assert.equal(back.body.prompt, prompt);
  assert.deepEqual((await post(server, '/detokenize', { tokens: [] })).body, { prompt: '' }, 'no ids, no text (found by the fuzzer: a 500 before)');
});

test('bad input names the field', async () => {
  const bad = async (path: string, body: unknown, status: number, param: string | null) => {
    const r = await post(server, path, body);
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.error.param, param, JSON.stringify(r.body));
  };
  await bad('/tokenize', { prompt: 'a', messages: [{ role: 'user', content: 'b' }] }, 400, 'messages');
  await bad('/tokenize', {}, 400, 'prompt');
  await bad('/tokenize', { prompt: 'a', add_generation_prompt: true }, 400, 'add_generation_prompt');
  await bad('/tokenize', { prompt: 'a', model: 'gpt-4o' }, 404, 'model');
  await bad('/tokenize', { prompt: 'a', bogus: 1 }, 400, 'bogus');
  await bad('/tokenize', { messages: [{ role: 'robot', content: 'b' }] }, 400, 'messages[0].role');
  await bad('/tokenize', { prompt: 'x'.repeat(256 * 32 + 1) }, 400, 'prompt');
  await bad('/detokenize', { tokens: [1, -2] }, 400, 'tokens[1]');
  await bad('/detokenize', { tokens: [1, 1e9] }, 400, 'tokens[1]');
  await bad('/detokenize', { tokens: 'abc' }, 400, 'tokens');
});

test('behind the API key', async () => {
  assert.equal((await post(locked, '/tokenize', { prompt: 'a' })).status, 401);
  assert.equal((await post(locked, '/detokenize', { tokens: [1] })).status, 401);
  assert.equal((await post(locked, '/tokenize', { prompt: 'a', model: 'org/tiny' }, { authorization: 'Bearer secret-key' })).status, 200);
});

test('GET /v1/models/{id} takes ids with a slash (org/name), encoded or not', async () => {
  const get = (path: string) => fetch(`${locked.http}${path}`, { headers: { authorization: 'Bearer secret-key' } });
  for (const path of ['/v1/models/org/tiny', '/v1/models/org%2Ftiny']) {
    const r = await get(path);
    assert.equal(r.status, 200, path);
    assert.equal(((await r.json()) as { id: string }).id, 'org/tiny');
  }
  assert.equal((await get('/v1/models/org/other')).status, 404);
});
