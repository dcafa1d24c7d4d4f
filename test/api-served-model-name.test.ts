// --served-model-name (vLLM's flag) end to end: the API answers to every name given, reports the
// first as the model id, lists each in /v1/models, and refuses any other name naming `model`.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { ConfigError } from '../src/errors.ts';
import { startTestServer, type TestServer } from './helpers/start-server.ts';

let server: TestServer;
let client: OpenAI;
before(async () => {
  server = await startTestServer({ servedModelName: ['gpt-x', 'org/alias-2'] });
  client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'none', maxRetries: 0 });
});
after(async () => {
  await server?.close();
});

test('every served name is accepted and listed; responses report the first; another name is a 404 naming model', async () => {
  assert.deepEqual((await client.models.list()).data.map((m) => m.id), ['gpt-x', 'org/alias-2']);
  assert.equal((await client.models.retrieve('org/alias-2')).id, 'org/alias-2');
  const r = await client.chat.completions.create({ model: 'org/alias-2', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
  assert.equal(r.model, 'gpt-x');
  await assert.rejects(client.completions.create({ model: 'other', prompt: 'hi', max_tokens: 2 }), (e: InstanceType<typeof OpenAI.APIError>) => {
    assert.equal(e.status, 404);
    assert.equal((e.error as { param: string }).param, 'model');
    assert.match(e.message, /'gpt-x', 'org\/alias-2'/);
    return true;
  });
});

test('--served-model-name and --model-id together refuse to start, naming the flag', async () => {
  await assert.rejects(startTestServer({ servedModelName: ['a'], modelId: 'b' }), (e: ConfigError) => e instanceof ConfigError && /--served-model-name and --model-id/.test(e.message));
});
