// The two transports, differentially and at random: fast-check draws requests (a text prompt; n,
// max_tokens, greedy or seeded sampling with top_p and top_k, a stop string and a stop token taken
// from a first answer, include_stop_str_in_output, log-probabilities with alternatives, ignore_eos,
// penalties, a logit bias, min_p, min_tokens, beam search, a skip core shared by the candidates
// with a head mask each) and sends each to one speculating server through HTTP (the openai client's
// completions) and gRPC (grpc-js Generate). Both must answer alike: each candidate's text, finish
// reason and log-probabilities, and the usage. A seed draws the same tokens whichever way a request
// comes, and so does greedy decoding; the two requests run one after the other, so nothing else
// differs between them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import OpenAI from 'openai';
import { generate, sometimes, speculatingServer, stopsFrom, transportBodies } from './helpers/differential.ts';

const s = speculatingServer();

const CORES = [{ skip_attention: [2] }, { skip_mlp: [3] }, { skip_attention: [0], skip_mlp: [1] }];
const drawn = fc.record({
  prompt: fc.array(fc.integer({ min: 32, max: 126 }), { minLength: 1, maxLength: 24 }).map((codes) => String.fromCharCode(...codes)),
  maxTokens: fc.integer({ min: 1, max: 32 }),
  n: fc.integer({ min: 1, max: 3 }),
  sampling: fc.option(fc.record({ temperature: fc.constantFrom(0.5, 1), top_p: fc.constantFrom(1, 0.8), top_k: fc.constantFrom(0, 5, 40), seed: fc.nat({ max: 1e6 }) }), { nil: undefined }),
  topLogprobs: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
  ignoreEos: fc.boolean(),
  stop: fc.option(fc.record({ at: fc.nat(), len: fc.integer({ min: 1, max: 2 }) }), { nil: undefined }),
  stopToken: fc.option(fc.nat(), { nil: undefined }),
  includeStop: fc.boolean(),
  processors: sometimes(fc.record({ presence_penalty: fc.constantFrom(0, 0.5), frequency_penalty: fc.constantFrom(0, 0.7), repetition_penalty: fc.constantFrom(1, 1.3), min_p: fc.constantFrom(0, 0.1), bias: fc.option(fc.record({ token: fc.integer({ min: 3 + 32, max: 3 + 126 }), value: fc.constantFrom(-100, 5) }), { nil: undefined }), min_tokens: fc.integer({ min: 0, max: 3 }) }), 1 / 5),
  beam: sometimes(fc.constantFrom(0, 1, 2), 1 / 6),
  core: fc.option(fc.record({ core: fc.integer({ min: 0, max: CORES.length - 1 }), head: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }) }), { nil: undefined }),
});
type Drawn = typeof drawn extends fc.Arbitrary<infer T> ? T : never;

interface Answer {
  candidates: { text: string; finish: string; logprobs: number[] | null }[];
  usage: { prompt: number; completion: number };
}

/** What both transports send for a draw: the HTTP body's fields, and what gRPC spells otherwise. */
function request(d: Drawn, first: { text: string; tokens: number[] } | null) {
  const beam = d.beam !== undefined && !d.sampling && !d.processors;
  const common: Record<string, unknown> = { prompt: d.prompt, max_tokens: d.maxTokens, n: d.n, temperature: 0, ignore_eos: d.ignoreEos, ...(d.sampling ?? {}) };
  if (d.sampling?.top_k === 0) delete common.top_k;
  if (d.processors) {
    const { bias, ...p } = d.processors;
    Object.assign(common, { ...p, min_tokens: Math.min(p.min_tokens, d.maxTokens) });
    if (bias) common.logit_bias = { [bias.token]: bias.value };
  }
  if (beam) Object.assign(common, { use_beam_search: true, length_penalty: d.beam });
  const plan = d.core && { ...CORES[d.core.core], ...(d.core.head !== undefined ? { mask_heads: { 0: [d.core.head] } } : {}) };
  if (first) Object.assign(common, stopsFrom(d, first));
  return transportBodies(common, { model: s.server.ctx.model.info.id, chat: false, topLogprobs: d.topLogprobs, plan });
}

async function viaHttp(body: object): Promise<Answer> {
  const r = await s.http.completions.create(body as never);
  return {
    candidates: r.choices.map((c) => ({ text: c.text, finish: c.finish_reason, logprobs: c.logprobs ? (c.logprobs.token_logprobs as number[]) : null })),
    usage: { prompt: r.usage!.prompt_tokens, completion: r.usage!.completion_tokens },
  };
}

async function viaGrpc(body: object): Promise<Answer & { tokens: number[] }> {
  const r = await generate(s.grpc, body);
  return {
    candidates: r.candidates.map((c) => ({ text: c.text, finish: c.finish_reason, logprobs: c.logprobs.length ? c.logprobs.map((l) => l.logprob) : null })),
    usage: { prompt: r.usage!.prompt_tokens, completion: r.usage!.completion_tokens },
    tokens: r.candidates[0]?.token_ids ?? [],
  };
}

test('random requests: HTTP completions and gRPC Generate answer alike (text, finish, log-probabilities, usage)', { timeout: 600_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(drawn, async (d) => {
      // A first answer (gRPC, which gives token ids) to take a stop string and a stop token from.
      const probe = await viaGrpc(request(d, null).grpcBody);
      const { httpBody, grpcBody } = request(d, { text: probe.candidates[0]?.text ?? '', tokens: probe.tokens });
      const x = await viaHttp(httpBody);
      const y = await viaGrpc(grpcBody);
      const what = JSON.stringify(httpBody);
      assert.deepEqual(
        y.candidates.map((c) => [c.text, c.finish]),
        x.candidates.map((c) => [c.text, c.finish]),
        what,
      );
      x.candidates.forEach((c, i) => {
        const [p, q] = [c.logprobs ?? [], y.candidates[i]!.logprobs ?? []];
        assert.equal(q.length, p.length, `log-probabilities of candidate ${i}: ${what}`);
        p.forEach((l, j) => assert.ok(Math.abs(l - q[j]!) < 1e-4, `candidate ${i} token ${j}: ${q[j]} vs ${l} (${what})`));
      });
      assert.deepEqual(y.usage, x.usage, what);
    }),
    process.env.DIFFERENTIAL_RUNS ? { numRuns: Number(process.env.DIFFERENTIAL_RUNS), includeErrorInReport: true } : { numRuns: 100, seed: 51, includeErrorInReport: true },
  );
});
