// `skipserve batch` as a user runs it (a real process on a batch file): every line answered in input
// order, each answer what the HTTP API gives for the same body, refusals and bad lines said per line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestServer, testCheckpoint } from './helpers/start-server.ts';

const run = promisify(execFile);

test('a batch file: answers in input order, equal to the API\'s, per-line errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skipserve-batch-'));
  try {
    const chat = { messages: [{ role: 'user', content: 'Q: 2+3?' }], max_tokens: 8, n: 3, seed: 4, temperature: 1 };
    const lines = [
      ...Array.from({ length: 12 }, (_, i) => ({ custom_id: `c${i}`, method: 'POST', url: '/v1/completions', body: { prompt: `Q: ${i}+1?`, max_tokens: 6, seed: i, temperature: 1 } })),
      { custom_id: 'chat', method: 'POST', url: '/v1/chat/completions', body: chat },
      { custom_id: 'emb', method: 'POST', url: '/v1/embeddings', body: { input: 'hello' } },
      { custom_id: 'bad', method: 'POST', url: '/v1/chat/completions', body: { messages: [], max_tokens: 2 } },
      { custom_id: 'stream', method: 'POST', url: '/v1/completions', body: { prompt: 'x', stream: true } },
      { custom_id: 'where', method: 'POST', url: '/v2/nothing', body: {} },
    ];
    writeFileSync(join(dir, 'in.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\nnot json\n');
    const { stderr } = await run(process.execPath, ['bin/skipserve.mjs', 'batch', '-i', join(dir, 'in.jsonl'), '-o', join(dir, 'out.jsonl'), '--model', testCheckpoint(), '--concurrency', '4', '--threads', '1']);
    assert.match(stderr, /batch: 18 lines, 14 answered 2xx, 4 not/);
    const out = readFileSync(join(dir, 'out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(out.map((o) => o.custom_id), [...lines.map((l) => l.custom_id), null], 'input order');
    assert.ok(out.every((o) => /^batch_req_/.test(o.id)));
    const byId = Object.fromEntries(out.map((o) => [o.custom_id, o]));
    assert.equal(byId.bad.response.status_code, 400);
    assert.equal(byId.bad.response.body.error.param, 'messages');
    assert.match(byId.stream.error.message, /cannot stream/);
    assert.match(byId.where.error.message, /url must be one of/);
    assert.equal(out.at(-1).error.code, 'invalid_json');
    assert.equal(byId.emb.response.body.data[0].embedding.length, 32);
    const server = await startTestServer();
    try {
      const api = (await (await fetch(`${server.http}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat) })).json()) as { choices: { message: { content: string } }[] };
      assert.deepEqual(byId.chat.response.body.choices.map((c: { message: { content: string } }) => c.message.content), api.choices.map((c) => c.message.content), 'the same answer as the API');
      assert.equal(byId.chat.response.request_id, byId.chat.response.body.id);
    } finally {
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
