// A body over --max-body-bytes: a 413 with an OpenAI error body, every time. The server reads and
// drops the body (within bounds) before answering, so a client that asks `Connection: close` and is
// still writing when the answer goes out gets the 413, not a reset (src/api/http/drain-refused-body.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { exchange, requestBytes } from '../load-tests/reliability/raw-http.ts';
import { DRAIN_LIMITS } from '../src/api/http/drain-refused-body.ts';
import { startTestServer, type TestServer } from './helpers/start-server.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer({ maxBodyBytes: 64 * 1024 });
});
after(() => server?.close());

test('a body over the limit gets its 413 on every try, written in pieces with Connection: close; fetch too', async () => {
  const bytes = 8 * 1024 * 1024;
  const body = Buffer.from(`{"max_tokens":2,"prompt":"${'ab '.repeat(bytes / 3 + 1).slice(0, bytes)}"}`);
  const request = requestBytes(`127.0.0.1:${server.httpPort}`, { method: 'POST', path: '/v1/completions', headers: [['Content-Type', 'application/json'], ['Content-Length', String(body.length)]], body });
  const outcomes: string[] = [];
  for (let i = 0; i < 30; i++) {
    const r = await exchange('127.0.0.1', server.httpPort, request, 10_000);
    outcomes.push(r.kind === 'response' ? String(r.status) : `${r.kind}${'message' in r ? `: ${r.message}` : ''}`);
  }
  assert.deepEqual(outcomes, new Array(30).fill('413'));
  const res = await fetch(`${server.http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(res.status, 413);
  assert.match(((await res.json()) as { error: { message: string } }).error.message, /larger than 65536 bytes/);
  assert.equal((await fetch(`${server.http}/health`)).status, 200);
});

test('a client that announces a large body and sends none still gets its 413, after the drain time bound', async () => {
  const answer = await new Promise<string>((resolve, reject) => {
    const s = connect(server.httpPort, '127.0.0.1', () => s.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n'));
    let got = '';
    s.on('data', (d) => {
      got += d.toString();
      if (got.includes('\r\n\r\n')) {
        s.destroy();
        resolve(got.split('\r\n')[0]!);
      }
    });
    s.on('error', reject);
    setTimeout(() => reject(new Error('no answer')), DRAIN_LIMITS.maxMs + 5000);
  });
  assert.equal(answer, 'HTTP/1.1 413 Payload Too Large');
});
