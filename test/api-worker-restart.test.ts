// When the model worker dies on its own, the server does not become a zombie (process up, /health
// ok, every request failing): a stream in flight ends with an error event instead of hanging, new
// requests get 503 with Retry-After while the model reopens (/ready 503 'model restarting'), then
// it serves again on the same versions; after three restarts within ten minutes a fourth death
// makes it give up: /health and /ready 503, gRPC health NOT_SERVING, so a liveness probe restarts
// the process. The worker is a real thread ended from outside, as a crash would end it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import type { Worker } from 'node:worker_threads';
import { loadProtos } from '../src/api/grpc/server.ts';
import type { HealthCheckResponseMsg } from '../src/api/grpc/messages.ts';
import { metricValue, readToEnd, startTestServer, waitFor, type TestServer } from './helpers/start-server.ts';
import { inferenceClient } from './helpers/grpc-client.ts';

let server: TestServer;
let health: grpc.Client & Record<string, Function>;

before(async () => {
  server = await startTestServer({ maxBatch: 8 });
  const pkg = grpc.loadPackageDefinition(loadProtos()) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } };
  health = new pkg.grpc.health.v1.Health(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure()) as never;
});
after(async () => {
  health?.close();
  await server?.close();
});

const post = (body: unknown) => fetch(`${server.http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const grpcHealth = () => new Promise<string>((res, rej) => health.Check!({ service: '' }, (e: grpc.ServiceError | null, r: HealthCheckResponseMsg) => (e ? rej(e) : res(String(r.status)))));
/**
 * Ends the serving engine's worker thread from outside (no close: as an uncaught error in it would),
 * between two runner calls: the engine's lock is held meanwhile, so requests stay in flight while
 * the worker is idle (terminating a thread inside onnxruntime's run aborts the process).
 */
async function killWorker(): Promise<void> {
  const { engine, runner } = server.ctx.model;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  await new Promise<void>((locked) => void engine.exclusive(() => (locked(), held)));
  await new Promise((r) => setTimeout(r, 50)); // calls outside the lock (frees) settle
  const worker = (runner as unknown as { worker: Worker }).worker;
  const gone = new Promise((r) => worker.once('exit', r));
  await worker.terminate();
  await gone;
  release();
}
const metrics = async () => (await fetch(`${server.http}/metrics`)).text();

test('a dead worker: the stream in flight ends with an error, new requests get 503 while the model reopens, then it serves again', async () => {
  const before = server.ctx.model;
  const res = await post({ prompt: 'hello', n: 2, max_tokens: 200, ignore_eos: true, stream: true, seed: 1 });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  assert.ok(!(await reader.read()).done);
  await killWorker();
  const text = await readToEnd(reader);
  assert.match(text, /"error"/, 'the stream ended with an error event');
  assert.match(text, /model runtime stopped/);

  const refused = await post({ prompt: 'hi', max_tokens: 2 });
  assert.equal(refused.status, 503);
  assert.ok(refused.headers.get('retry-after'), 'Retry-After on the 503');
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'unavailable');
  const ready = await fetch(`${server.http}/ready`);
  assert.equal(ready.status, 503);
  assert.equal(((await ready.json()) as { reason: string }).reason, 'model restarting');
  assert.equal((await fetch(`${server.http}/health`)).status, 200, 'restarting is not unhealthy');

  await waitFor(async () => (await fetch(`${server.http}/ready`)).status === 200, 60_000, 'ready again');
  assert.notEqual(server.ctx.model, before, 'a fresh engine serves');
  assert.deepEqual(server.ctx.model.versions, before.versions, 'on the same versions');
  const again = await post({ prompt: 'hello again', max_tokens: 3 });
  assert.equal(again.status, 200);
  assert.equal(await grpcHealth(), 'SERVING');
  assert.equal(metricValue(await metrics(), 'skipserve_model_restarts_total{outcome="ok",cause="crash"}'), 1);
});

test('three restarts within ten minutes, then a fourth death: the server gives up (/health 503, gRPC NOT_SERVING)', async () => {
  for (let i = 2; i <= 3; i++) {
    await killWorker();
    await waitFor(async () => (await fetch(`${server.http}/ready`)).status === 200, 60_000, `ready after restart ${i}`);
  }
  assert.equal(metricValue(await metrics(), 'skipserve_model_restarts_total{outcome="ok",cause="crash"}'), 3);
  await killWorker();
  await waitFor(async () => (await fetch(`${server.http}/health`)).status === 503, 10_000, 'unhealthy');
  const body = (await (await fetch(`${server.http}/health`)).json()) as { status: string; reason: string };
  assert.equal(body.status, 'unhealthy');
  assert.match(body.reason, /died 4 times/);
  assert.equal((await fetch(`${server.http}/ready`)).status, 503);
  assert.equal(await grpcHealth(), 'NOT_SERVING');
  const refused = await post({ prompt: 'hi', max_tokens: 2 });
  assert.equal(refused.status, 503);
  const client = inferenceClient(server.grpcPort);
  const code = await new Promise<number>((res) => client.Generate!({ prompt: 'hi', max_tokens: 2 }, (e: grpc.ServiceError | null) => res(e ? e.code : grpc.status.OK)));
  client.close();
  assert.equal(code, grpc.status.UNAVAILABLE);
  assert.equal(metricValue(await metrics(), 'skipserve_model_restarts_total{outcome="gave_up",cause="crash"}'), 1);
});
