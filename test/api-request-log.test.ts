// The request log (--log-requests, on by default): one info line per finished request, over HTTP
// and gRPC alike, with its id, policy, token counts, finish reasons and timings, never its text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { startTestServer } from './helpers/start-server.ts';

function capture(): { log: pino.Logger; lines: Record<string, any>[] } {
  const lines: Record<string, any>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

test('one line per finished request, failures too; none with --log-requests off', async () => {
  const on = capture();
  const s = await startTestServer({}, {}, on.log);
  try {
    const post = (body: object) => fetch(`${s.http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const res = await post({ prompt: 'secret words', n: 3, max_tokens: 5, seed: 1, temperature: 1, ignore_eos: true });
    const r = (await res.json()) as { id: string };
    assert.equal(res.headers.get('x-request-id'), r.id, 'the id in a header too');
    const streamed = await post({ prompt: 'x', max_tokens: 2, stream: true });
    assert.match(streamed.headers.get('x-request-id') ?? '', /^cmpl-/);
    await streamed.text();
    await new Promise((res) => setTimeout(res, 50));
    const line = on.lines.find((l) => l.msg === 'request done' && l.id === r.id)!;
    assert.ok(line, JSON.stringify(on.lines.map((l) => l.msg)));
    assert.equal(line.n, 3);
    assert.equal(line.completionTokens, 15);
    assert.deepEqual(line.finish, { length: 3 });
    assert.ok(line.totalMs >= 0 && line.promptTokens > 0);
    assert.ok(!JSON.stringify(on.lines).includes('secret words'), 'the prompt is never logged');
    const ac = new AbortController();
    const stream = await fetch(`${s.http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x', max_tokens: 200, ignore_eos: true, stream: true }), signal: ac.signal });
    await stream.body!.getReader().read();
    ac.abort();
    for (let i = 0; i < 100 && !on.lines.some((l) => l.msg === 'request failed'); i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal(on.lines.find((l) => l.msg === 'request failed')?.outcome, 'cancelled');
  } finally {
    await s.close();
  }
  const off = capture();
  const quiet = await startTestServer({ logRequests: false }, {}, off.log);
  try {
    await fetch(`${quiet.http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x', max_tokens: 2 }) });
    assert.ok(!off.lines.some((l) => l.msg === 'request done'));
  } finally {
    await quiet.close();
  }
});
