// End-to-end lifecycle: abandoned streams free their rows, the bounded queue refuses at once
// (HTTP 429 / gRPC RESOURCE_EXHAUSTED), /health stays responsive while the model works (it runs in
// a worker thread), and SIGTERM drains: not ready, in-flight requests finish, then exit.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { spawnServer } from '../testkit/spawn-server.ts';
import { startTestServer, testCheckpoint, waitFor, metricValue, type TestServer } from './helpers/start-server.ts';
import { inferenceClient } from './helpers/grpc-client.ts';

// Big enough that a prefill of a long prompt keeps the worker busy for a while.
const BIG = { layers: 4, hidden: 256, heads: 4, kvHeads: 2, intermediate: 768, maxPositions: 2048, seed: 8 };
let server: TestServer;

before(async () => {
  server = await startTestServer({ maxBatch: 8, maxQueue: 1, prefillChunk: 256 }, BIG);
});
after(() => server?.close());

const post = (path: string, body: unknown, signal?: AbortSignal) =>
  fetch(`${server.http}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });

/** Opens a long best-of-8 stream and waits for its first chunk. */
async function longStream(ac: AbortController, promptTokens = 64) {
  const prompt = Array.from({ length: promptTokens }, (_, i) => 3 + ((i * 37) % 250));
  const res = await post('/v1/completions', { prompt, n: 8, max_tokens: 2048 - promptTokens - 8, ignore_eos: true, stream: true, seed: 1 }, ac.signal);
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const first = await reader.read();
  assert.ok(!first.done);
  return reader;
}

test('queue limit: 429 and RESOURCE_EXHAUSTED at once; an abandoned stream frees its rows and the server keeps serving', async () => {
  const ac = new AbortController();
  const reader = await longStream(ac);
  assert.equal(server.ctx.model.engine.runningRows(), 8);
  // The batch is full: this one waits (queue of 1) ...
  const waiting = post('/v1/completions', { prompt: 'hello', max_tokens: 2 });
  await waitFor(() => server.ctx.model.engine.waitingRequests() === 1, 5000, 'second request queued');
  // ... and the next is refused at once.
  const refused = await post('/v1/completions', { prompt: 'hello', max_tokens: 2 });
  assert.equal(refused.status, 429);
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'queue_full');
  const client = inferenceClient(server.grpcPort);
  const code = await new Promise<number>((res) => client.Generate!({ prompt: 'hi', max_tokens: 2 }, (e: grpc.ServiceError | null) => res(e ? e.code : grpc.status.OK)));
  client.close();
  assert.equal(code, grpc.status.RESOURCE_EXHAUSTED);
  // Abandon the stream mid-way: the rows are freed at the next step and the queued request runs.
  await reader.cancel();
  ac.abort();
  await waitFor(async () => metricValue(await (await fetch(`${server.http}/metrics`)).text(), 'skipserve_running_rows') === 0, 10000, 'running rows back to 0');
  const done = await waiting;
  assert.equal(done.status, 200);
  const again = await post('/v1/completions', { prompt: 'hello again', max_tokens: 3 });
  assert.equal(again.status, 200);
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.equal(metricValue(metrics, 'skipserve_requests_total{policy="none",outcome="cancelled"}'), 1);
  assert.equal(metricValue(metrics, 'skipserve_requests_total{policy="none",outcome="rejected"}'), 2);
});

test('/health answers fast while a long generation keeps the model busy', async () => {
  const ac = new AbortController();
  const reader = await longStream(ac, 1500);
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    const r = await fetch(`${server.http}/health`);
    assert.equal(r.status, 200);
    await r.text();
    times.push(performance.now() - t);
    await new Promise((res) => setTimeout(res, 10));
  }
  assert.equal(server.ctx.model.engine.runningRows(), 8, 'the generation was running the whole time');
  await reader.cancel();
  ac.abort();
  times.sort((a, b) => a - b);
  const median = times[10]!;
  console.log(`/health latency during generation: median ${median.toFixed(1)} ms, max ${times[19]!.toFixed(1)} ms`);
  assert.ok(median < 50, `median /health latency ${median.toFixed(1)} ms`);
  await waitFor(() => server.ctx.model.engine.runningRows() === 0, 10000, 'rows freed');
});

test('SIGTERM: not ready, the in-flight request finishes, new ones are refused, exit 0', async () => {
  const dir = testCheckpoint(BIG);
  const { child, url, output } = await spawnServer(['--model', dir, '--http-port', '0', '--grpc-port=-1', '--log-level', 'info', '--store', 'off']);
  const exited = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
  const inflight = fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x', max_tokens: 400, ignore_eos: true, n: 4 }) });
  await waitFor(async () => /skipserve_running_rows 4/.test(await (await fetch(`${url}/metrics`)).text()), 10000, 'generation started');
  child.kill('SIGTERM');
  await waitFor(async () => (await fetch(`${url}/ready`)).status === 503, 5000, 'ready turns false');
  const refused = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'y', max_tokens: 2 }) });
  assert.equal(refused.status, 503);
  const res = await inflight;
  assert.equal(res.status, 200);
  const body = (await res.json()) as { choices: { text: string; finish_reason: string }[]; usage: { completion_tokens: number } };
  assert.equal(body.usage.completion_tokens, 4 * 400, 'the in-flight request finished completely');
  assert.equal(await exited, 0);
  assert.match(output(), /drained; bye/);
});
