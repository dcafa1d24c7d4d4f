/**
 * Differential testing of completions (fast-check). `assertAnswersAlike` draws requests and sends
 * each to a reference server (never streamed) and to the server under test (streamed when drawn):
 * - greedy, or seeded sampled (temperature, top_p, top_k) with `sampled`;
 * - a prompt from the given arbitrary; max_tokens, n, echo, logprobs, ignore_eos;
 * - a stop string and a stop token taken from the reference's answer, include_stop_str_in_output;
 * - a skip core shared by the candidates or one each, with a head mask each, or the plans of a
 *   seeded policy; now and then a guide (guided_choice, guided_regex), logit processors (penalties,
 *   a logit bias, min_p) and min_tokens, or a beam search;
 * - one to three requests at once, and optionally other work beside them on the tested server.
 * Every choice must come back the same: text, finish reason, log-probabilities, usage. Where the
 * texts differ, the reference's two best log-probabilities at the first differing token must be a
 * near tie (another batch or run shape sums in another order), else the property fails; a sampled
 * request or a beam search has no such excuse. The transport tests' shared parts are here too.
 */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import OpenAI from 'openai';
import { startTestServer, type TestServer } from './start-server.ts';
import { inferenceClient, type InferenceClient } from './grpc-client.ts';
import type { GenerateResponseMsg } from '../../src/api/grpc/messages.ts';

type Logprobs = { tokens: string[]; token_logprobs: (number | null)[]; top_logprobs: (Record<string, number> | null)[] | null };
interface Choice {
  text: string;
  finish: string | null;
  logprobs: Logprobs | null;
}
interface Answer {
  choices: Choice[];
  usage: unknown;
}

/** A printable byte's token id on the random test checkpoints (byte-level tokenizer: id = 3 + byte). */
const byteToken = fc.integer({ min: 3 + 32, max: 3 + 126 });
/** Prompts of 1-8 random printable bytes. */
export const shortPrompts = fc.array(byteToken, { minLength: 1, maxLength: 8 });
/** A fixed prompt of `len` printable bytes, in steps of `stride` from `offset` through the 90 of them. */
export const fixedPrompt = (len: number, stride = 37, offset = 0): number[] => Array.from({ length: len }, (_, i) => 3 + 32 + ((i * stride + offset) % 90));
/** Prompts ending 2 to 40 tokens before the end of a `context`-token window (prefixes of one fixed prompt). */
export const nearContextPrompts = (context: number): fc.Arbitrary<number[]> => fc.integer({ min: context - 40, max: context - 2 }).map((len) => fixedPrompt(len));
/** Prompts that share prefixes: one of `bases` cut anywhere, up to 6 random bytes added. */
export const sharedPrefixPrompts = (bases: number[][]): fc.Arbitrary<number[]> =>
  fc.record({ base: fc.integer({ min: 0, max: bases.length - 1 }), cut: fc.nat(), tail: fc.array(byteToken, { maxLength: 6 }) }).map(({ base, cut, tail }) => [...bases[base]!.slice(0, 1 + (cut % bases[base]!.length)), ...tail]);

/** `arb`'s value with probability `p`, else undefined (fc.option's `freq` is the other way round: nil once in freq + 1). */
export const sometimes = <T>(arb: fc.Arbitrary<T>, p: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: Math.round((1 - p) * 60) }, { arbitrary: arb, weight: Math.round(p * 60) });

/** Skip cores of a 4-layer model that the draws share among a request's candidates. */
const CORES = [{ skip_attention: [2] }, { skip_mlp: [3] }, { skip_attention: [0], skip_mlp: [1] }, { skip_attention: [1, 3] }];
/** A seeded policy's skip options (random head masks, seeded sub-networks), the request's seed with them. */
const SEEDED_POLICIES: fc.Arbitrary<{ policy: string; seed: number } & Record<string, unknown>> = fc.oneof(
  fc.record({ policy: fc.constant('random-heads'), k: fc.integer({ min: 1, max: 3 }), seed: fc.nat({ max: 1000 }) }),
  fc.record({ policy: fc.constant('sub-networks'), core_fraction: fc.constantFrom(0.1, 0.3), seed: fc.nat({ max: 1000 }) }),
);

const drawn = (prompt: fc.Arbitrary<number[]>, sampled: boolean, policies: fc.Arbitrary<{ policy: string; seed: number } & Record<string, unknown>>, policyShare: number) => fc.record({
  prompt,
  maxTokens: fc.integer({ min: 1, max: 48 }),
  n: fc.integer({ min: 1, max: 3 }),
  stream: fc.boolean(),
  logprobs: fc.integer({ min: 0, max: 2 }),
  echo: fc.boolean(),
  ignoreEos: fc.boolean(),
  stop: fc.option(fc.record({ at: fc.nat(), len: fc.integer({ min: 1, max: 3 }) }), { nil: undefined }),
  stopToken: fc.option(fc.nat(), { nil: undefined }),
  includeStop: fc.boolean(),
  core: fc.option(fc.integer({ min: 0, max: CORES.length - 1 }), { nil: undefined }),
  // Candidates on different cores (as sub-networks and the ensemble run them): the prompt is prefilled under what they share.
  mixed: fc.boolean(),
  // Or a policy that draws the plans from the request's seed (random head masks, seeded sub-networks).
  policy: sometimes(policies, policyShare),
  // A guide now and then: a choice of short texts or a small regular expression (guided requests decode plainly on a speculating server).
  guide: sometimes(fc.oneof(fc.record({ guided_choice: fc.uniqueArray(fc.stringMatching(/^[a-z ]{1,6}$/), { minLength: 1, maxLength: 3 }) }), fc.record({ guided_regex: fc.constantFrom('[a-c]{1,5}', '(ab|cd)+x?', '[0-9]+ [a-z]*', '.{0,4}!') })), 1 / 6),
  // Beam search instead (greedy draws without processors only; every candidate on one plan).
  beam: sometimes(fc.record({ length_penalty: fc.constantFrom(0, 1, 2), extra: fc.integer({ min: 0, max: 2 }) }), 1 / 5),
  sampling: sampled ? fc.record({ temperature: fc.constantFrom(0.5, 1, 1.5), top_p: fc.constantFrom(1, 0.9, 0.5), top_k: fc.constantFrom(-1, 5, 40), seed: fc.nat({ max: 1e6 }) }) : fc.constant(null),
  // Logit processors (penalties, a bias, min_p) and min_tokens: such requests decode plainly on a speculating server.
  processors: sometimes(
    fc.record({ presence_penalty: fc.constantFrom(0, 0.5, -0.5), frequency_penalty: fc.constantFrom(0, 0.7), repetition_penalty: fc.constantFrom(1, 1.3), min_p: fc.constantFrom(0, 0.1), logit_bias: fc.dictionary(byteToken.map(String), fc.constantFrom(-100, -5, 5), { maxKeys: 2 }), min_tokens: fc.integer({ min: 0, max: 4 }) }),
    1 / 5,
  ),
  heads: fc.array(fc.option(fc.record({ layer: fc.integer({ min: 0, max: 3 }), head: fc.integer({ min: 0, max: 3 }) }), { nil: undefined }), { minLength: 3, maxLength: 3 }),
});
type Drawn = ReturnType<typeof drawn> extends fc.Arbitrary<infer T> ? T : never;

/** The request body for a draw (max_tokens within the context: the prompt has a BOS token too); `probe` leaves out what is taken from the reference answer (stop string, stop token). */
function body(model: string, context: number, d: Drawn, probe: { text: string; tokens: number[] } | null): Record<string, unknown> {
  const max = Math.min(d.maxTokens, context - 1 - d.prompt.length);
  const processors = d.processors && { ...d.processors, min_tokens: d.guide ? 0 : Math.min(d.processors.min_tokens, max) };
  const r: Record<string, unknown> = { model, prompt: [d.prompt], max_tokens: max, n: d.n, temperature: 0, ignore_eos: d.ignoreEos, echo: d.echo, logprobs: d.logprobs, ...d.sampling, ...processors };
  const beam = d.beam && !d.sampling && !d.processors && !d.guide;
  // A guide ends each candidate where its text is complete: neither ignore_eos nor min_tokens may forbid that.
  if (d.guide) Object.assign(r, d.guide, { ignore_eos: false });
  if (beam) Object.assign(r, { use_beam_search: true, length_penalty: d.beam!.length_penalty, best_of: Math.min(3, d.n + d.beam!.extra) });
  if (d.policy && !beam) {
    const { seed, ...skip } = d.policy;
    r.skip = skip;
    r.seed ??= seed;
  } else if (d.core !== undefined) {
    const plans = d.heads.slice(0, d.n).map((h, i) => ({ ...CORES[(d.core! + (d.mixed ? i : 0)) % CORES.length], ...(h ? { mask_heads: { [h.layer]: [h.head] } } : {}) }));
    r.skip = beam ? { policy: 'explicit', plan: plans[0] } : { policy: 'explicit', plans };
  }
  if (probe) Object.assign(r, stopsFrom(d, probe));
  return r;
}

/**
 * Stop conditions taken from a first answer: a stop string cut from its text at a drawn place (by
 * code points: half a surrogate pair is no string protobuf can carry) and a stop token among its tokens.
 */
export function stopsFrom(d: { stop?: { at: number; len: number }; stopToken?: number; includeStop?: boolean }, first: { text: string; tokens?: number[] }): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  const chars = [...first.text];
  if (d.stop && chars.length) {
    const at = d.stop.at % chars.length;
    r.stop = [chars.slice(at, at + d.stop.len).join('')];
    if (d.includeStop !== undefined) r.include_stop_str_in_output = d.includeStop;
  }
  if (d.stopToken !== undefined && first.tokens?.length) r.stop_token_ids = [first.tokens[d.stopToken % first.tokens.length]!];
  return r;
}

/** A skip plan in gRPC's form (head lists as messages). */
export function grpcPlan(plan: Record<string, unknown> & { mask_heads?: Record<number, number[]> }): Record<string, unknown> {
  return { ...plan, mask_heads: Object.fromEntries(Object.entries(plan.mask_heads ?? {}).map(([l, heads]) => [l, { heads }])) };
}

/**
 * One request as each transport spells it: the same fields, log-probabilities asked as HTTP asks
 * them (chat: `logprobs` + `top_logprobs`; completions: `logprobs` = the number of alternatives) and
 * as gRPC does (`logprobs` + `top_logprobs`), a plan for every candidate under the explicit policy.
 */
export function transportBodies(common: Record<string, unknown>, o: { model: string; chat: boolean; topLogprobs?: number; plan?: Record<string, unknown> & { mask_heads?: Record<number, number[]> } }): { httpBody: Record<string, unknown>; grpcBody: Record<string, unknown> } {
  const asked = o.topLogprobs !== undefined;
  const httpLogprobs = asked ? (o.chat ? { logprobs: true, top_logprobs: o.topLogprobs } : { logprobs: o.topLogprobs }) : {};
  return {
    httpBody: { model: o.model, ...common, ...httpLogprobs, ...(o.plan ? { skip: { policy: 'explicit', plan: o.plan } } : {}) },
    grpcBody: { ...common, logprobs: asked, ...(asked ? { top_logprobs: o.topLogprobs } : {}), ...(o.plan ? { skip: { policy: 'explicit', plan: grpcPlan(o.plan) } } : {}) },
  };
}

/** gRPC Generate as a promise. */
export function generate(grpc: InferenceClient, body: object): Promise<GenerateResponseMsg> {
  return new Promise((resolve, reject) => grpc.Generate!(body, (e: Error | null, m: GenerateResponseMsg) => (e ? reject(e) : resolve(m))));
}

/**
 * A speculating server on a random 4-layer checkpoint, with an openai client and a grpc-js client
 * of it (for the transport tests): started before the file's tests, closed after them.
 */
export function speculatingServer(): { server: TestServer; http: OpenAI; grpc: InferenceClient } {
  const s = {} as { server: TestServer; http: OpenAI; grpc: InferenceClient };
  before(async () => {
    s.server = await startTestServer({ speculativeConfig: JSON.stringify({ method: 'skip', draft: { skip_layers: [1, 2] }, num_speculative_tokens: 3 }) }, { layers: 4 });
    s.http = new OpenAI({ baseURL: `${s.server.http}/v1`, apiKey: 'unused', maxRetries: 0 });
    s.grpc = inferenceClient(s.server.grpcPort);
  });
  after(async () => {
    s.grpc?.close();
    await s.server?.close();
  });
  return s;
}

/**
 * The engine tests' servers on a random 4-layer checkpoint (context 256), started before the file's
 * tests and closed after them: the plainest (at most 3 rows per step, whole prompts, no prefix cache,
 * no speculation, the switched graph only, no core graphs) and two with every optimisation on
 * (8-row batches, 16-token prefill chunks, a 0.25 MB prefix cache, the dense path, core graphs),
 * one speculating and one not.
 */
export function engineServers(): { plainest: TestServer; full: TestServer; fullPlain: TestServer } {
  const s = {} as { plainest: TestServer; full: TestServer; fullPlain: TestServer };
  const ckpt = { layers: 4 };
  const on = { maxBatch: 8, prefillChunk: 16, prefixCacheMb: 0.25 };
  before(async () => {
    s.plainest = await startTestServer({ maxBatch: 3, prefillChunk: 512, prefixCacheMb: 0, speculativeConfig: 'off', densePath: false, coreGraphs: 0 }, ckpt);
    s.full = await startTestServer({ ...on, speculativeConfig: JSON.stringify({ method: 'skip', draft: { skip_layers: [1, 2] }, num_speculative_tokens: 3 }) }, ckpt);
    s.fullPlain = await startTestServer({ ...on, speculativeConfig: 'off' }, ckpt);
  });
  after(async () => {
    await s.plainest?.close();
    await s.full?.close();
    await s.fullPlain?.close();
  });
  return s;
}

/** One request's choices (in index order) and usage, streamed or not. */
async function send(c: OpenAI, req: Record<string, unknown>, stream: boolean): Promise<Answer> {
  if (!stream) {
    const r = await c.completions.create(req as never);
    return { choices: r.choices.map((x) => ({ text: x.text, finish: x.finish_reason, logprobs: (x.logprobs as unknown as Logprobs) ?? null })), usage: r.usage };
  }
  const choices: Choice[] = [];
  let usage: unknown;
  const s = (await c.completions.create({ ...req, stream: true, stream_options: { include_usage: true } } as never)) as unknown as AsyncIterable<OpenAI.Completion>;
  for await (const chunk of s) {
    if (chunk.usage) usage = chunk.usage;
    for (const x of chunk.choices) {
      const ch = (choices[x.index] ??= { text: '', finish: null, logprobs: null });
      ch.text += x.text;
      if (x.finish_reason) ch.finish = x.finish_reason;
      const lp = x.logprobs as unknown as Logprobs | null;
      if (lp) {
        ch.logprobs ??= { tokens: [], token_logprobs: [], top_logprobs: lp.top_logprobs ? [] : null };
        ch.logprobs.tokens.push(...lp.tokens);
        ch.logprobs.token_logprobs.push(...lp.token_logprobs);
        if (lp.top_logprobs) ch.logprobs.top_logprobs?.push(...lp.top_logprobs);
      }
    }
  }
  return { choices, usage };
}

/**
 * True when the reference server's two best log-probabilities at generated token `at` of choice `c`
 * (the same request again, without stop conditions, to `at` + 1 tokens) lie within 1e-3.
 */
async function nearTie(a: OpenAI, req: Record<string, unknown>, c: number, at: number): Promise<boolean> {
  const again = { ...req, echo: false, logprobs: 2, stop: undefined, stop_token_ids: undefined, ignore_eos: true, max_tokens: at + 1 };
  const top = ((await a.completions.create(again as never)).choices[c]!.logprobs as unknown as Logprobs).top_logprobs?.[at];
  if (!top) return false;
  const [p, q] = Object.values(top).sort((u, v) => v - u);
  return q !== undefined && p! - q < 1e-3;
}

/** A request for a failure message: its fields, the prompt's token ids space-separated. */
const show = (req: Record<string, unknown>) => JSON.stringify({ ...req, model: undefined, prompt: (req.prompt as number[][])[0]!.join(' ') });
/** Usage without the cached prompt tokens: requests side by side may find the cache in another state on each server. */
const withoutCache = (u: unknown) => ({ ...(u as object), prompt_tokens_details: undefined });

export interface DifferentialOptions {
  /** The prompts (token ids) to draw from. */
  prompts: fc.Arbitrary<number[]>;
  numRuns: number;
  seed: number;
  /** Seeded sampled requests instead of greedy ones. */
  sampled?: boolean;
  /** The policies drawn (skip options and a seed; default: random-heads and sub-networks), and the share of requests that name one (default 1/5). */
  policies?: fc.Arbitrary<{ policy: string; seed: number } & Record<string, unknown>>;
  policyShare?: number;
  /** Work sent to the tested server beside each draw's requests (its own checks inside): it must not change their answers. */
  beside?: () => Promise<void>;
}

/**
 * Runs the property: `tested` answers every drawn request as `reference` does. DIFFERENTIAL_RUNS=N in
 * the environment runs N draws from a random seed instead (a soak; the seed is in the failure report).
 */
export async function assertAnswersAlike(reference: TestServer, tested: TestServer, o: DifferentialOptions): Promise<{ compared: number; ties: number; cachedTokens: number }> {
  const client = (s: TestServer) => new OpenAI({ baseURL: `${s.http}/v1`, apiKey: 'unused', maxRetries: 0 });
  const [a, b] = [client(reference), client(tested)];
  const model = reference.ctx.model.info.id;
  const context = reference.ctx.model.info.maxPositions;
  let ties = 0;
  let compared = 0;
  /** Prompt tokens the tested server took from its prefix cache, over the compared requests. */
  let cachedTokens = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(drawn(o.prompts, o.sampled ?? false, o.policies ?? SEEDED_POLICIES, o.policyShare ?? 1 / 5), { minLength: 1, maxLength: 3 }), async (draws) => {
      // The probe: the reference answer without stop conditions, to take a stop string and a stop token from.
      // Both servers answer it (and so hold the same prompts in their prefix caches).
      const probes = await Promise.all(
        draws.map(async (d) => {
          const [r] = await Promise.all([a, b].map((s) => s.completions.create({ ...body(model, context, d, null), echo: false } as never)));
          const first = r!.choices[0]!;
          return { text: first.text, tokens: reference.ctx.model.tokenizer.encode(first.text, false) };
        }),
      );
      const reqs = draws.map((d, i) => body(model, context, d, probes[i]!));
      // One to three requests at once on each server: side by side, they batch together.
      const [want, got] = await Promise.all([Promise.all(reqs.map((r) => send(a, r, false))), Promise.all(reqs.map((r, i) => send(b, r, draws[i]!.stream))), o.beside?.()]);
      for (const [i, req] of reqs.entries()) {
        const [x, y] = [want[i]!, got[i]!];
        cachedTokens += (y.usage as { prompt_tokens_details?: { cached_tokens?: number } } | undefined)?.prompt_tokens_details?.cached_tokens ?? 0;
        assert.equal(y.choices.length, x.choices.length);
        for (const [c, cx] of x.choices.entries()) {
          const cy = y.choices[c]!;
          compared++;
          if (cy.text !== cx.text) {
            // Only a near tie may part them: at the first token where they differ (echoed prompt tokens first).
            const [tx, ty] = [cx.logprobs!.tokens, cy.logprobs!.tokens];
            let at = 0;
            while (at < tx.length && tx[at] === ty[at]) at++;
            assert.ok(!draws[i]!.sampling && !req.use_beam_search && (await nearTie(a, req, c, at - (draws[i]!.echo ? draws[i]!.prompt.length : 0))), `request ${show(req)} (with ${reqs.map((r) => show(r)).join(', ')}) choice ${c}: ${JSON.stringify(cy.text)} vs reference ${JSON.stringify(cx.text)}`);
            ties++;
            continue;
          }
          assert.equal(cy.finish, cx.finish, `finish of choice ${c}: ${show(req)}`);
          // A stream whose only token ended it (a stop token) sends no log-probabilities; the whole answer an empty list.
          const some = (l: Logprobs | null) => (l?.tokens.length ?? 0) > 0;
          assert.equal(some(cy.logprobs), some(cx.logprobs), `log-probabilities of choice ${c}: ${JSON.stringify(cy.logprobs)} vs ${JSON.stringify(cx.logprobs)} (${show(req)})`);
          if (cx.logprobs && cy.logprobs) {
            assert.deepEqual(cy.logprobs.tokens, cx.logprobs.tokens);
            cx.logprobs.token_logprobs.forEach((l, j) => {
              const m = cy.logprobs!.token_logprobs[j];
              assert.ok(l === null ? m === null : Math.abs(l - m!) < 1e-4, `token ${j}: ${m} vs ${l} (${show(req)})`);
            });
            assert.equal(cy.logprobs.top_logprobs?.length, cx.logprobs.top_logprobs?.length);
          }
        }
        if (y.choices.every((cy, c) => cy.text === x.choices[c]!.text)) assert.deepEqual(withoutCache(y.usage), withoutCache(x.usage), show(req));
      }
    }),
    process.env.DIFFERENTIAL_RUNS ? { numRuns: Number(process.env.DIFFERENTIAL_RUNS), includeErrorInReport: true } : { numRuns: o.numRuns, seed: o.seed, includeErrorInReport: true },
  );
  assert.ok(ties <= compared / 20, `${ties} near ties of ${compared} choices`);
  return { compared, ties, cachedTokens };
}
