// CORS (--allowed-origins): a browser's preflight is answered before the API key check, listed
// origins get the CORS headers on real responses too, others and a server without the setting none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from './helpers/start-server.ts';

test('listed origins get CORS headers (preflight without a key, then the keyed request); others none', async () => {
  const s = await startTestServer({ allowedOrigins: ['https://ui.example'], apiKey: 'k' });
  try {
    const url = `${s.http}/v1/chat/completions`;
    const pre = await fetch(url, { method: 'OPTIONS', headers: { origin: 'https://ui.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'https://ui.example');
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/i);
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    const ok = await fetch(url, { method: 'POST', headers: { origin: 'https://ui.example', authorization: 'Bearer k', 'content-type': 'application/json' }, body });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://ui.example');
    const noKey = await fetch(url, { method: 'POST', headers: { origin: 'https://ui.example', 'content-type': 'application/json' }, body });
    assert.equal(noKey.status, 401, 'CORS opens no door the key closes');
    const other = await fetch(url, { method: 'POST', headers: { origin: 'https://evil.example', authorization: 'Bearer k', 'content-type': 'application/json' }, body });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  } finally {
    await s.close();
  }
});

test("'*' allows any origin; without the setting there are no CORS headers", async () => {
  const any = await startTestServer({ allowedOrigins: ['*'] });
  const none = await startTestServer();
  try {
    const h = { origin: 'https://anywhere.example' };
    assert.equal((await fetch(`${any.http}/v1/models`, { headers: h })).headers.get('access-control-allow-origin'), '*');
    for (const path of ['/health', '/openapi.json', '/version']) assert.equal((await fetch(`${any.http}${path}`, { headers: h })).headers.get('access-control-allow-origin'), '*', `${path} answers CORS too`);
    assert.equal((await fetch(`${none.http}/v1/models`, { headers: h })).headers.get('access-control-allow-origin'), null);
  } finally {
    await any.close();
    await none.close();
  }
});
