// Cancels beside generation, differentially (test/helpers/differential.ts): while random greedy and
// seeded sampled requests run on a server with every optimisation on (8-row batches, 16-token prefill
// chunks, a small prefix cache, speculation for the greedy ones, the dense path, core graphs), other
// clients start streamed requests (several candidates, long answers, prompts sharing a prefix with
// the drawn ones) and go away after a few events (HTTP aborts, gRPC cancels, gRPC deadlines), so
// rows leave the batch mid-request and new requests take their places; every answer must come back
// as the plainest server, with no such traffic, gives it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as grpc from '@grpc/grpc-js';
import { metricSum, waitFor, type TestServer } from './helpers/start-server.ts';
import { inferenceClient, type InferenceClient } from './helpers/grpc-client.ts';
import { assertAnswersAlike, engineServers, fixedPrompt, nearContextPrompts, sharedPrefixPrompts, shortPrompts } from './helpers/differential.ts';

const CONTEXT = 256;
const SHARED = fixedPrompt(100, 29, 7);
const servers = engineServers();

test('random greedy and seeded sampled requests beside clients that go away mid-stream: the same answers as without them', { timeout: 600_000 }, async () => {
  let draw = 0;
  let abandoned = 0;
  const grpcClients = new Map<TestServer, InferenceClient>();
  /** A streamed HTTP request abandoned after `events` chunks. */
  const httpGone = async (busy: TestServer, body: Record<string, unknown>, events: number) => {
    const abort = new AbortController();
    try {
      const res = await fetch(`${busy.http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }), signal: abort.signal });
      const reader = res.body!.getReader();
      for (let e = 0; e < events; e++) if ((await reader.read()).done) break;
      abort.abort();
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  };
  /** A gRPC GenerateStream cancelled after `events` messages, or (deadline) left to its deadline of 20-60 ms. */
  const grpcGone = async (busy: TestServer, body: Record<string, unknown>, events: number, deadline: boolean) => {
    const client = grpcClients.get(busy) ?? grpcClients.set(busy, inferenceClient(busy.grpcPort)).get(busy)!;
    const call = client.GenerateStream!(body, deadline ? { deadline: Date.now() + 20 + 10 * events } : {}) as grpc.ClientReadableStream<unknown>;
    await new Promise<void>((resolve) => {
      let seen = 0;
      call.on('data', () => {
        if (++seen === events && !deadline) call.cancel();
      });
      call.on('error', () => resolve());
      call.on('end', () => resolve());
    });
  };
  /** One or two streamed requests of 1-3 candidates on `busy` (prompts sharing the drawn ones' prefix), each gone after 1-6 events: HTTP aborts, gRPC cancels and gRPC deadlines in turn. */
  const beside = (busy: TestServer) => async () => {
    const k = draw++;
    await Promise.all(
      Array.from({ length: 1 + (k % 2) }, async (_, j) => {
        const body = { prompt: SHARED.slice(0, 5 + ((k * 7 + j) % 60)), max_tokens: 200, ignore_eos: true, n: 1 + ((k + j) % 3), temperature: (k + j) % 2 };
        const events = 1 + ((k + 3 * j) % 6);
        const way = (k + j) % 3;
        if (way === 0) await httpGone(busy, body, events);
        else await grpcGone(busy, { ...body, prompt: new TextDecoder().decode(new Uint8Array(body.prompt.map((t) => t - 3))) }, events, way === 2);
        abandoned++;
      }),
    );
  };
  const prompts = fc.oneof(shortPrompts, nearContextPrompts(CONTEXT), sharedPrefixPrompts([SHARED]));
  // Greedy on the speculating server with every optimisation on; seeded sampled on the same without speculation (which draws other tokens by design).
  const greedy = await assertAnswersAlike(servers.plainest, servers.full, { prompts, numRuns: 40, seed: 50, beside: beside(servers.full) });
  const sampled = await assertAnswersAlike(servers.plainest, servers.fullPlain, { prompts, numRuns: 30, seed: 51, sampled: true, beside: beside(servers.fullPlain) });
  assert.ok(abandoned > 0 && greedy.compared > 0 && sampled.compared > 0);
  for (const c of grpcClients.values()) c.close();
  // Every way of going away happened: cancels (HTTP aborts, gRPC cancels) and gRPC deadlines, as the server counted them.
  const ended = (outcome: string) => metricSum(servers.full, 'skipserve_requests_total', { outcome: [outcome] });
  assert.ok((await ended('cancelled')) > 0 && (await ended('deadline')) > 0);
  // The abandoned requests left nothing behind.
  for (const s of [servers.full, servers.fullPlain]) await waitFor(() => s.ctx.model.engine.runningRows() === 0, 5000, 'rows freed');
});
