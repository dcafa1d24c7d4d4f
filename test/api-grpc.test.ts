// End-to-end: the real server on loopback, called with a grpc-js client built from the proto.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { connect, constants, type ClientHttp2Stream } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LOADER_OPTIONS, loadProtos } from '../src/api/grpc/server.ts';
import type { CandidateDeltaMsg, GenerateRequestMsg, GenerateResponseMsg, GenerateStreamResponseMsg, HealthCheckResponseMsg } from '../src/api/grpc/messages.ts';
import { metricSum, startTestServer, waitFor, type TestServer } from './helpers/start-server.ts';

type Ctor = grpc.ServiceClientConstructor;
let server: TestServer;
let client: grpc.Client & Record<string, Function>;
let health: grpc.Client & Record<string, Function>;
const addr = () => `127.0.0.1:${server.grpcPort}`;

before(async () => {
  // A long context, so that the deadline test's request cannot finish before its deadline on a fast machine.
  server = await startTestServer({}, { maxPositions: 2048 });
  const pkg = grpc.loadPackageDefinition(loadProtos()) as unknown as { skipserve: { v1: { Inference: Ctor } }; grpc: { health: { v1: { Health: Ctor } } } };
  client = new pkg.skipserve.v1.Inference(addr(), grpc.credentials.createInsecure()) as never;
  health = new pkg.grpc.health.v1.Health(addr(), grpc.credentials.createInsecure()) as never;
});
after(async () => {
  client?.close();
  health?.close();
  await server?.close();
});

function unary<Res>(method: string, req: unknown, opts: grpc.CallOptions = {}): Promise<Res> {
  return new Promise((resolve, reject) => client[method]!(req, new grpc.Metadata(), opts, (err: grpc.ServiceError | null, res: Res) => (err ? reject(err) : resolve(res))));
}

const base: Partial<GenerateRequestMsg> = { prompt: 'Q: 2+2? A:', max_tokens: 6, seed: 9, temperature: 0 };

test('Generate (unary): n=3 candidates with distinct random-heads plans and a skip summary', async () => {
  const r = await unary<GenerateResponseMsg>('Generate', { ...base, n: 3, skip: { policy: 'random-heads', k: 1 } });
  assert.equal(r.candidates.length, 3);
  assert.equal(new Set(r.candidates.map((c) => JSON.stringify(c.skip_plan.mask_heads))).size, 3);
  assert.equal(r.skip.policy, 'random-heads');
  assert.equal(r.candidates.filter((c) => c.selected).length, 1);
  assert.equal(r.candidates.find((c) => c.selected)!.index, r.skip.selected_index);
  assert.ok(r.skip.speedup > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test('Generate: a repeated prompt of 16 tokens or more reports its cached prompt tokens', async () => {
  const req = { ...base, prompt: 'Q: 12+30? A: 42. Q: 7+8? A: 15. Q: 5+6? A:', n: 2 };
  const first = await unary<GenerateResponseMsg>('Generate', req);
  const second = await unary<GenerateResponseMsg>('Generate', req);
  assert.equal(first.usage.cached_prompt_tokens, 0);
  assert.equal(second.usage.cached_prompt_tokens, second.usage.prompt_tokens - 1);
  assert.deepEqual(second.candidates.map((c) => c.text), first.candidates.map((c) => c.text));
});

test('GenerateStream: per-candidate deltas add up to the final texts', async () => {
  const call = client.GenerateStream!({ ...base, n: 2, skip: { policy: 'random-heads', k: 2 } }) as grpc.ClientReadableStream<GenerateStreamResponseMsg>;
  const texts = ['', ''];
  const finished: string[] = [];
  let final: GenerateResponseMsg | undefined;
  for await (const m of call as AsyncIterable<GenerateStreamResponseMsg>) {
    if (m.delta) {
      const d: CandidateDeltaMsg = m.delta;
      texts[d.index] += d.text;
      if (d.finish_reason) finished.push(d.finish_reason);
    } else final = m.final;
  }
  assert.ok(final, 'a final summary message arrives last');
  assert.equal(finished.length, 2);
  assert.deepEqual(texts, final!.candidates.map((c) => c.text));
  const again = await unary<GenerateResponseMsg>('Generate', { ...base, n: 2, skip: { policy: 'random-heads', k: 2 } });
  assert.deepEqual(again.candidates.map((c) => c.text), texts, 'same seed, same output over unary and stream');
});

test('ListPolicies and GetModel', async () => {
  const p = await unary<{ policies: { name: string; available: boolean }[]; default_policy: string }>('ListPolicies', {});
  assert.ok(p.policies.some((x) => x.name === 'random-heads' && x.available));
  assert.equal(p.default_policy, 'none');
  const m = await unary<{ id: string; num_layers: number; num_heads: number }>('GetModel', {});
  assert.equal(m.id, server.ctx.model.info.id);
  assert.equal(m.num_layers, 2);
  assert.equal(m.num_heads, 4);
});

test('INVALID_ARGUMENT names the field', async () => {
  const bad = (req: Partial<GenerateRequestMsg> | Record<string, unknown>, field: string) =>
    assert.rejects(unary('Generate', req), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.INVALID_ARGUMENT, e.details);
      assert.ok(e.details.startsWith(field), `${e.details} names ${field}`);
      return true;
    });
  await bad({ ...base, n: 0 }, 'n');
  await bad({ ...base, n: 99 }, 'n');
  await bad({ ...base, max_tokens: 5000 }, 'max_tokens');
  await bad({ ...base, skip: { policy: 'nope' } }, 'skip.policy');
  await bad({ ...base, n: 1, skip: { policy: 'explicit', plan: { skip_attention: [7] } } }, 'skip.plan.skip_attention[0]');
  await bad({ max_tokens: 3 }, 'prompt');
  await bad({ ...base, min_p: 2 }, 'min_p');
  await bad({ ...base, skip: { policy: 'sub-networks', core_fraction: 2 } }, 'skip.core_fraction');
  await bad({ ...base, frequency_penalty: 2.5 }, 'frequency_penalty');
  await bad({ ...base, logit_bias: { 5: 101 } }, 'logit_bias.5');
  await bad({ ...base, logit_bias: { 99999: 1 } }, 'logit_bias.99999');
});

test('best_of: Generate returns the n best of best_of candidates, best first, with their indices; GenerateStream refuses best_of > n', async () => {
  const req = { ...base, temperature: 1.2, seed: 5, max_tokens: 8 };
  const all = await unary<GenerateResponseMsg>('Generate', { ...req, n: 4 });
  const best = await unary<GenerateResponseMsg>('Generate', { ...req, n: 2, best_of: 4 });
  assert.equal(best.candidates.length, 2);
  assert.equal(best.candidates[0]!.selected, true);
  assert.equal(best.candidates[0]!.index, all.skip.selected_index);
  for (const c of best.candidates) assert.equal(c.text, all.candidates[c.index]!.text);
  assert.equal(best.usage.completion_tokens, all.usage.completion_tokens);
  const call = client.GenerateStream!({ ...req, n: 1, best_of: 3 }) as grpc.ClientReadableStream<GenerateStreamResponseMsg>;
  await assert.rejects(
    (async () => {
      for await (const _ of call as AsyncIterable<GenerateStreamResponseMsg>) void _;
    })(),
    (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
      assert.ok(e.details.startsWith('best_of'), e.details);
      return true;
    },
  );
});

test('beam search: Generate returns the beams HTTP returns, best first; GenerateStream sends the n best whole; length_penalty alone is refused', async () => {
  const req = { ...base, prompt: 'Hi! Th', max_tokens: 8, use_beam_search: true, length_penalty: 0.5 };
  const http = (await (await fetch(`${server.http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...req, n: 3 }) })).json()) as { choices: { text: string }[] };
  const r = await unary<GenerateResponseMsg>('Generate', { ...req, n: 3 });
  assert.deepEqual(r.candidates.map((c) => [c.index, c.text]), http.choices.map((c, i) => [i, c.text]));
  const texts = new Map<number, string>();
  const call = client.GenerateStream!({ ...req, n: 2, best_of: 3 }) as grpc.ClientReadableStream<GenerateStreamResponseMsg>;
  for await (const m of call as AsyncIterable<GenerateStreamResponseMsg>) if (m.delta) texts.set(m.delta.index, (texts.get(m.delta.index) ?? '') + m.delta.text);
  assert.deepEqual([...texts.entries()].sort(), http.choices.slice(0, 2).map((c, i) => [i, c.text]));
  await assert.rejects(unary('Generate', { ...base, length_penalty: 2 }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && e.details.startsWith('length_penalty'));
});

test('Generate with logit_bias: a token at +100 is drawn every time', async () => {
  const r = await unary<GenerateResponseMsg>('Generate', { ...base, n: 2, max_tokens: 5, temperature: 1, seed: 2, ignore_eos: true, logit_bias: { [3 + 66]: 100 } }); // byte B in the test tokenizer
  assert.deepEqual(r.candidates.map((c) => c.text), ['BBBBB', 'BBBBB']);
});

test('health: SERVING; unknown service NOT_FOUND', async () => {
  const check = (service: string) => new Promise<HealthCheckResponseMsg>((res, rej) => health.Check!({ service }, (e: grpc.ServiceError | null, r: HealthCheckResponseMsg) => (e ? rej(e) : res(r))));
  assert.equal((await check('')).status, 'SERVING');
  assert.equal((await check('skipserve.v1.Inference')).status, 'SERVING');
  await assert.rejects(check('nope'), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
});

test('reflection lists the services', async () => {
  const require = createRequire(import.meta.url);
  const protoPath = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto/grpc/reflection/v1/reflection.proto');
  const def = protoLoader.loadSync(protoPath, LOADER_OPTIONS);
  const Reflection = (grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1: { ServerReflection: Ctor } } } }).grpc.reflection.v1.ServerReflection;
  const r = new Reflection(addr(), grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
  const call = r.ServerReflectionInfo!() as grpc.ClientDuplexStream<unknown, { list_services_response?: { service: { name: string }[] } }>;
  const reply = new Promise<string[]>((res, rej) => {
    call.on('data', (m) => res((m.list_services_response?.service ?? []).map((s: { name: string }) => s.name)));
    call.on('error', rej);
  });
  call.write({ list_services: '' });
  const names = await reply;
  call.end();
  r.close();
  for (const s of ['skipserve.v1.Inference', 'grpc.health.v1.Health']) assert.ok(names.includes(s), `${s} in ${names.join(', ')}`);
});

test('a client cancel of a stream frees its rows', async () => {
  const call = client.GenerateStream!({ ...base, n: 2, max_tokens: 1500, ignore_eos: true, prompt: 'y' }) as grpc.ClientReadableStream<GenerateStreamResponseMsg>;
  const ended = new Promise<number>((res) => call.on('error', (e: grpc.ServiceError) => res(e.code)));
  await new Promise<void>((res) => call.once('data', () => res()));
  assert.equal(server.ctx.model.engine.runningRows(), 2, 'still generating when cancelled');
  call.cancel();
  assert.equal(await ended, grpc.status.CANCELLED);
  await waitFor(() => server.ctx.model.engine.runningRows() === 0, 5000, 'rows freed after the cancel');
});

test('deadline: DEADLINE_EXCEEDED and the rows are freed', async () => {
  const endedByServer = () => metricSum(server, 'skipserve_requests_total', { outcome: ['deadline', 'cancelled'] });
  const before = await endedByServer();
  // 8 rows x 2,000 tokens: thousands of steps, far beyond a 150 ms deadline on any machine.
  await assert.rejects(
    unary('Generate', { ...base, n: 8, max_tokens: 2000, ignore_eos: true, prompt: 'x' }, { deadline: Date.now() + 150 }),
    (e: grpc.ServiceError) => e.code === grpc.status.DEADLINE_EXCEEDED,
  );
  await waitFor(() => server.ctx.model.engine.runningRows() === 0, 5000, 'rows freed after the deadline');
  await waitFor(async () => (await endedByServer()) > before, 5000, 'the server ended the request itself (deadline or cancel), not only the client');
  const ok = await unary<GenerateResponseMsg>('Generate', base);
  assert.equal(ok.candidates.length, 1, 'the server keeps serving');
});

/** A call sent from a bare HTTP/2 client: headers only, no message yet; returns its grpc-status when it ends. */
function bareCall(path: string, headers: Record<string, string>, then: (s: ClientHttp2Stream) => void): Promise<string | undefined> {
  const session = connect(`http://${addr()}`);
  const s = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers }, { endStream: false });
  return new Promise((resolve) => {
    let status: string | undefined;
    s.on('response', (h) => (status ??= h['grpc-status'] as string | undefined));
    s.on('trailers', (h) => (status ??= h['grpc-status'] as string | undefined));
    s.on('error', () => {});
    s.on('end', () => s.close());
    s.resume();
    s.on('close', () => {
      session.close();
      resolve(status);
    });
    then(s);
  });
}

test('a call that ends before its handler runs (deadline passed, client gone) is still counted', async () => {
  // Policy "unknown" (the embeddings counter has no policy label).
  const count = (name: string, outcome: string) => metricSum(server, name, { outcome: [outcome], ...(name === 'skipserve_requests_total' ? { policy: ['unknown'] } : {}) });
  const before = { deadline: await count('skipserve_requests_total', 'deadline'), cancelled: await count('skipserve_requests_total', 'cancelled'), embed: await count('skipserve_embedding_requests_total', 'deadline') };
  // The request's message never comes: grpc-js's own deadline timer ends the call before any handler.
  const status = await bareCall('/skipserve.v1.Inference/Generate', { 'grpc-timeout': '30m' }, () => {});
  assert.equal(status, String(grpc.status.DEADLINE_EXCEEDED));
  await bareCall('/skipserve.v1.Inference/GenerateStream', { 'grpc-timeout': '30m' }, () => {});
  await bareCall('/skipserve.v1.Inference/Embed', { 'grpc-timeout': '30m' }, () => {});
  await bareCall('/skipserve.v1.Inference/Generate', {}, (s) => setTimeout(() => s.close(constants.NGHTTP2_CANCEL), 50));
  await waitFor(async () => (await count('skipserve_requests_total', 'deadline')) === before.deadline + 2, 5000, 'both deadlines counted');
  await waitFor(async () => (await count('skipserve_requests_total', 'cancelled')) === before.cancelled + 1, 5000, 'the cancel counted');
  await waitFor(async () => (await count('skipserve_embedding_requests_total', 'deadline')) === before.embed + 1, 5000, 'the embedding deadline counted');
  const ok = await unary<GenerateResponseMsg>('Generate', base);
  assert.equal(ok.candidates.length, 1);
  assert.equal(await count('skipserve_requests_total', 'deadline'), before.deadline + 2, 'a call that reached its handler is not counted twice');
});

test('echo: the prompt and its scores as over HTTP; streamed once, before the first delta; max_tokens 0 scores only; not with messages', async () => {
  const req = { prompt: 'Q: 12+30? A:', max_tokens: 3, temperature: 0, echo: true, logprobs: true, top_logprobs: 1 };
  const r = await unary<GenerateResponseMsg>('Generate', req);
  const http = (await (
    await fetch(`${server.http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: req.prompt, max_tokens: 3, temperature: 0, echo: true, logprobs: 1 }) })
  ).json()) as { choices: { text: string; logprobs: { token_logprobs: (number | null)[] } }[]; usage: { prompt_tokens: number } };
  const p = r.prompt!;
  assert.equal(p.text, req.prompt);
  assert.equal(p.token_ids.length, http.usage.prompt_tokens);
  assert.equal(p.tokens.length, p.token_ids.length);
  assert.equal(p.tokens[0]!.logprob, undefined, 'the first prompt token has no logprob');
  const want = http.choices[0]!.logprobs.token_logprobs.slice(0, p.tokens.length);
  p.tokens.forEach((t, i) => (i === 0 ? assert.equal(want[0], null) : assert.ok(Math.abs(t.logprob! - want[i]!) < 1e-5, `prompt token ${i}`)));
  assert.equal(http.choices[0]!.text, p.text + r.candidates[0]!.text);

  const call = client.GenerateStream!({ ...req, n: 2, seed: 3, temperature: 1 }) as grpc.ClientReadableStream<GenerateStreamResponseMsg>;
  const kinds: string[] = [];
  for await (const m of call as AsyncIterable<GenerateStreamResponseMsg>) kinds.push(m.prompt ? 'prompt' : m.delta ? 'delta' : 'final');
  assert.equal(kinds[0], 'prompt');
  assert.equal(kinds.filter((k) => k === 'prompt').length, 1);
  assert.equal(kinds.at(-1), 'final');

  const only = await unary<GenerateResponseMsg>('Generate', { ...req, max_tokens: 0 });
  assert.equal(only.usage.completion_tokens, 0);
  assert.deepEqual(only.prompt!.token_ids, p.token_ids);
  await assert.rejects(unary('Generate', { messages: [{ role: 'user', content: 'hi' }], echo: true }), (e: grpc.ServiceError) => {
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
    assert.match(e.details, /echo/);
    return true;
  });
  const plain = await unary<GenerateResponseMsg>('Generate', { ...base });
  assert.equal(plain.prompt ?? null, null, 'no prompt without echo');
});
