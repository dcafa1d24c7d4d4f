// A model worker that hangs (its thread blocked, as in a run that never returns) does not stall the
// server: after --stall-timeout without an answer the stream in flight ends with an error event,
// the model reopens on the same versions as after a crash, and the server serves again; the hung
// thread is left to finish and ends on its own once idle.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from 'node:worker_threads';
import { metricValue, readToEnd, startTestServer, waitFor, type TestServer } from './helpers/start-server.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer({ maxBatch: 8, stallTimeout: 1 });
});
after(async () => {
  await server?.close();
});

const post = (body: unknown) => fetch(`${server.http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

test('a hung worker: the stream ends with an error after the stall timeout, the model reopens, the hung thread ends once idle', async () => {
  const before = server.ctx.model;
  const res = await post({ prompt: 'hello', n: 2, max_tokens: 200, ignore_eos: true, stream: true, seed: 1 });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  assert.ok(!(await reader.read()).done);

  const runner = before.runner as unknown as { worker: Worker; call(req: { op: 'block'; ms: number }): Promise<null> };
  const exited = new Promise<number>((r) => runner.worker.once('exit', r));
  const t0 = performance.now();
  void runner.call({ op: 'block', ms: 4000 }).catch(() => {});
  const text = await readToEnd(reader);
  const ended = performance.now() - t0;
  assert.match(text, /"error"/, 'the stream ended with an error event');
  assert.match(text, /model worker hung: no answer for 1\.0 s/);
  assert.ok(ended < 3800, `the stream ended before the worker woke up (${ended.toFixed(0)} ms)`);
  assert.equal((await fetch(`${server.http}/health`)).status, 200, 'a reopening model is not unhealthy');

  await waitFor(async () => (await fetch(`${server.http}/ready`)).status === 200, 60_000, 'ready again');
  assert.notEqual(server.ctx.model, before, 'a fresh engine serves');
  assert.deepEqual(server.ctx.model.versions, before.versions, 'on the same versions');
  const again = await post({ prompt: 'hello again', max_tokens: 3 });
  assert.equal(again.status, 200);
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.equal(metricValue(metrics, 'skipserve_model_restarts_total{outcome="ok",cause="hang"}'), 1);

  assert.equal(await exited, 1, 'the hung thread ended (terminated once it had closed its model)');
  assert.ok(performance.now() - t0 >= 3900, 'not before it woke up');
  const still = await post({ prompt: 'and again', max_tokens: 3 });
  assert.equal(still.status, 200, 'its late answers did not disturb the fresh engine');
});
