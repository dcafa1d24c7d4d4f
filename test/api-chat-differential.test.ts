// Chat completions, differentially and at random: fast-check draws conversations (system, user and
// assistant turns of random text, the last a user turn) and request settings (n, max_tokens, greedy
// or seeded sampling, a stop string taken from a first answer, log-probabilities with
// alternatives, penalties now and then, a skip core shared by the candidates with a head mask each)
// and sends each to one speculating server three ways: HTTP non-streamed, HTTP streamed (the openai
// client, deltas put together per choice) and gRPC Generate with messages. All three must give each
// choice the same content, finish reason and log-probabilities, and the same usage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import OpenAI from 'openai';
import { generate, sometimes, speculatingServer, stopsFrom, transportBodies } from './helpers/differential.ts';

const s = speculatingServer();

const text = fc.array(fc.integer({ min: 32, max: 126 }), { minLength: 1, maxLength: 16 }).map((codes) => String.fromCharCode(...codes));
const drawn = fc.record({
  system: fc.option(text, { nil: undefined }),
  turns: fc.array(fc.tuple(text, text), { maxLength: 2 }),
  last: text,
  maxTokens: fc.integer({ min: 1, max: 24 }),
  n: fc.integer({ min: 1, max: 3 }),
  sampling: sometimes(fc.record({ temperature: fc.constantFrom(0.5, 1), top_p: fc.constantFrom(1, 0.8), seed: fc.nat({ max: 1e6 }) }), 1 / 3),
  topLogprobs: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
  stop: fc.option(fc.record({ at: fc.nat(), len: fc.integer({ min: 1, max: 2 }) }), { nil: undefined }),
  penalties: sometimes(fc.record({ presence_penalty: fc.constantFrom(0.5, -0.5), repetition_penalty: fc.constantFrom(1, 1.3) }), 1 / 5),
  core: fc.option(fc.record({ core: fc.constantFrom({ skip_attention: [2] }, { skip_mlp: [3] }), head: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }) }), { nil: undefined }),
});
type Drawn = typeof drawn extends fc.Arbitrary<infer T> ? T : never;

interface Answer {
  choices: { content: string; finish: string; logprobs: number[] }[];
  usage: { prompt: number; completion: number };
}

function request(d: Drawn, first: string | null) {
  const messages = [...(d.system ? [{ role: 'system', content: d.system }] : []), ...d.turns.flatMap(([u, a]) => [{ role: 'user', content: u }, { role: 'assistant', content: a }]), { role: 'user', content: d.last }];
  const common: Record<string, unknown> = { max_tokens: d.maxTokens, n: d.n, temperature: 0, ...(d.sampling ?? {}), ...(d.penalties ?? {}) };
  if (first !== null) Object.assign(common, stopsFrom(d, { text: first }));
  const plan = d.core && { ...d.core.core, ...(d.core.head !== undefined ? { mask_heads: { 0: [d.core.head] } } : {}) };
  return transportBodies({ messages, ...common }, { model: s.server.ctx.model.info.id, chat: true, topLogprobs: d.topLogprobs, plan });
}

async function unstreamed(body: object): Promise<Answer> {
  const r = await s.http.chat.completions.create(body as never);
  return { choices: r.choices.map((c) => ({ content: c.message.content ?? '', finish: c.finish_reason, logprobs: (c.logprobs?.content ?? []).map((l) => l.logprob) })), usage: { prompt: r.usage!.prompt_tokens, completion: r.usage!.completion_tokens } };
}

async function streamed(body: object): Promise<Answer> {
  const choices: Answer['choices'] = [];
  let usage: Answer['usage'] = { prompt: -1, completion: -1 };
  const chunks = (await s.http.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } } as never)) as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>;
  for await (const chunk of chunks) {
    if (chunk.usage) usage = { prompt: chunk.usage.prompt_tokens, completion: chunk.usage.completion_tokens };
    for (const c of chunk.choices) {
      const ch = (choices[c.index] ??= { content: '', finish: '', logprobs: [] });
      ch.content += c.delta.content ?? '';
      if (c.finish_reason) ch.finish = c.finish_reason;
      ch.logprobs.push(...(c.logprobs?.content ?? []).map((l) => l.logprob));
    }
  }
  return { choices, usage };
}

async function viaGrpc(body: object): Promise<Answer> {
  const r = await generate(s.grpc, body);
  return { choices: r.candidates.map((c) => ({ content: c.content, finish: c.finish_reason, logprobs: c.logprobs.map((l) => l.logprob) })), usage: { prompt: r.usage!.prompt_tokens, completion: r.usage!.completion_tokens } };
}

function assertAlike(got: Answer, want: Answer, what: string): void {
  assert.deepEqual(
    got.choices.map((c) => [c.content, c.finish]),
    want.choices.map((c) => [c.content, c.finish]),
    what,
  );
  want.choices.forEach((c, i) => {
    const q = got.choices[i]!.logprobs;
    assert.equal(q.length, c.logprobs.length, `log-probabilities of choice ${i}: ${what}`);
    c.logprobs.forEach((l, j) => assert.ok(Math.abs(l - q[j]!) < 1e-4, `choice ${i} token ${j}: ${q[j]} vs ${l} (${what})`));
  });
  assert.deepEqual(got.usage, want.usage, what);
}

test('random conversations: chat completions answer alike unstreamed, streamed and through gRPC', { timeout: 600_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(drawn, async (d) => {
      const first = (await unstreamed(request(d, null).httpBody)).choices[0]?.content ?? '';
      const { httpBody, grpcBody } = request(d, first);
      const what = JSON.stringify(httpBody);
      const x = await unstreamed(httpBody);
      assertAlike(await streamed(httpBody), x, `streamed: ${what}`);
      assertAlike(await viaGrpc(grpcBody), x, `gRPC: ${what}`);
    }),
    process.env.DIFFERENTIAL_RUNS ? { numRuns: Number(process.env.DIFFERENTIAL_RUNS), includeErrorInReport: true } : { numRuns: 60, seed: 52, includeErrorInReport: true },
  );
});
