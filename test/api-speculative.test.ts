// Self-speculative decoding end to end: two real servers on one random 4-layer checkpoint, one
// with `--speculative-config` (layers 1-2 skipped draft 4 tokens, the full model verifies) and
// one without, sent the same requests through the unmodified openai client. Greedy output is the
// full model's, token for token: the texts, finish reasons, usage and log-probabilities match the
// plain server (and the float64 reference's greedy tokens), streamed or not, at max_tokens, at a
// stop string, at the end of the context, for n > 1 and for requests decoding side by side.
// Sampled requests speculate too (speculative sampling): the same seed gives the same tokens, each
// token's log-probability is the model's own (float64 reference), and the second token's
// frequencies match plain sampling's, with top_p and top_k too. Candidates that share a skip core
// speculate on top of it (the draft's layers skipped besides the core's); greedy ones answer as the
// plain server and the float64 reference under their plans. The spec-decode counters move;
// bad configs name the flag.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { ReferenceModel } from '../src/model/reference.ts';
import { FULL_PLAN } from '../src/plans/plan.ts';
import { resolveSpeculative } from '../src/engine/speculative-config.ts';
import { ConfigError } from '../src/errors.ts';
import { metricValue, startTestServer, testCheckpoint, waitFor, type TestServer } from './helpers/start-server.ts';
import { inferenceClient } from './helpers/grpc-client.ts';
import { logSoftmax } from './helpers/log-softmax.ts';
import type { GenerateResponseMsg } from '../src/api/grpc/messages.ts';

const CKPT = { layers: 4 };
const SPEC = JSON.stringify({ method: 'skip', draft: { skip_layers: [1, 2] }, num_speculative_tokens: 4 });
let plain: TestServer;
let spec: TestServer;
let a: OpenAI;
let b: OpenAI;
before(async () => {
  plain = await startTestServer({ speculativeConfig: 'off' }, CKPT);
  spec = await startTestServer({ speculativeConfig: SPEC }, CKPT);
  a = new OpenAI({ baseURL: `${plain.http}/v1`, apiKey: 'unused', maxRetries: 0 });
  b = new OpenAI({ baseURL: `${spec.http}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  await plain?.close();
  await spec?.close();
});

const counters = async () => {
  const text = await (await fetch(`${spec.http}/metrics`)).text();
  return { cycles: metricValue(text, 'skipserve_spec_decode_cycles_total') ?? 0, drafted: metricValue(text, 'skipserve_spec_decode_draft_tokens_total') ?? 0, accepted: metricValue(text, 'skipserve_spec_decode_accepted_tokens_total') ?? 0 };
};
const prompts = [[3 + 72, 3 + 105, 3 + 33], [3 + 84, 3 + 104, 3 + 101, 3 + 32, 3 + 97], [3 + 49, 3 + 43, 3 + 50, 3 + 61]];
type TextLogprobs = { tokens: string[]; token_logprobs: number[]; top_logprobs: Record<string, number>[] };

test('greedy completions: the same text, finish, usage and log-probabilities as the plain server; the draft ran', async () => {
  const before = await counters();
  for (const prompt of prompts) {
    for (const ignore_eos of [false, true]) {
      const body = { model: plain.ctx.model.info.id, prompt: [prompt], max_tokens: 40, temperature: 0, logprobs: 2, ignore_eos } as never;
      const [x, y] = [await a.completions.create(body), await b.completions.create(body)];
      assert.equal(y.choices[0]!.text, x.choices[0]!.text);
      assert.equal(y.choices[0]!.finish_reason, x.choices[0]!.finish_reason);
      assert.deepEqual(y.usage, x.usage);
      const [lx, ly] = [x.choices[0]!.logprobs as unknown as TextLogprobs, y.choices[0]!.logprobs as unknown as TextLogprobs];
      assert.deepEqual(ly.tokens, lx.tokens);
      ly.token_logprobs.forEach((l, i) => assert.ok(Math.abs(l - lx.token_logprobs[i]!) < 1e-4, `token ${i}: ${l} vs ${lx.token_logprobs[i]}`));
      ly.top_logprobs.forEach((t, i) => assert.deepEqual(Object.keys(t).sort(), Object.keys(lx.top_logprobs[i]!).sort()));
    }
  }
  const after = await counters();
  assert.ok(after.cycles > before.cycles, 'speculative cycles ran');
  assert.ok(after.drafted > before.drafted && after.accepted - before.accepted <= after.drafted - before.drafted);
});

test('the speculative server greedy-decodes what the float64 reference does', async () => {
  const ref = new ReferenceModel(openCheckpoint(testCheckpoint(CKPT)));
  for (const prompt of prompts) {
    const ids = [...prompt];
    for (let i = 0; i < 24; i++) {
      const row = ref.forward(ids, FULL_PLAN).at(-1)!;
      ids.push([...row.keys()].reduce((m, t) => (row[t]! > row[m]! ? t : m), 0));
    }
    const y = await b.completions.create({ model: spec.ctx.model.info.id, prompt: [prompt], max_tokens: 24, temperature: 0, ignore_eos: true } as never);
    assert.equal(y.choices[0]!.text, spec.ctx.model.tokenizer.decode(ids.slice(prompt.length)));
  }
});

test('max_tokens, a stop string, n = 2, streaming and the end of the context end speculation where the plain server ends', async () => {
  const id = plain.ctx.model.info.id;
  const same = async (body: object) => {
    const [x, y] = [await a.completions.create({ model: id, temperature: 0, ...body } as never), await b.completions.create({ model: id, temperature: 0, ...body } as never)];
    assert.deepEqual(y.choices.map((c) => [c.text, c.finish_reason]), x.choices.map((c) => [c.text, c.finish_reason]), JSON.stringify(body));
    assert.deepEqual(y.usage, x.usage);
    return x;
  };
  for (const max_tokens of [1, 2, 5, 7]) await same({ prompt: [prompts[0]], max_tokens, ignore_eos: true });
  const long = await same({ prompt: [prompts[1]], max_tokens: 30, ignore_eos: true });
  const text = long.choices[0]!.text;
  await same({ prompt: [prompts[1]], max_tokens: 30, ignore_eos: true, stop: [text.slice(9, 12)] });
  await same({ prompt: [prompts[2]], max_tokens: 12, n: 2 });
  // 250 of the context's 256 positions taken: the last tokens decode without drafts.
  await same({ prompt: [Array.from({ length: 250 }, (_, i) => 3 + ((i * 31) % 90))], max_tokens: 6, ignore_eos: true });
  let streamed = '';
  for await (const chunk of (await b.completions.create({ model: id, prompt: [prompts[1]], max_tokens: 30, temperature: 0, ignore_eos: true, stream: true } as never)) as unknown as AsyncIterable<OpenAI.Completion>) streamed += chunk.choices[0]?.text ?? '';
  assert.equal(streamed, text);
});

test('requests decoding side by side speculate together and each gets the plain answer', async () => {
  const id = plain.ctx.model.info.id;
  const body = (p: number[]) => ({ model: id, prompt: [p], max_tokens: 32, temperature: 0, ignore_eos: true }) as never;
  const want = await Promise.all(prompts.map((p) => a.completions.create(body(p))));
  const got = await Promise.all(prompts.map((p) => b.completions.create(body(p))));
  assert.deepEqual(got.map((r) => r.choices[0]!.text), want.map((r) => r.choices[0]!.text));
  for (const r of got) assert.ok((r as unknown as { skip: { speedup: number } }).skip.speedup > 0);
});

test('greedy candidates under their own plans do not speculate (measured no faster for the ensemble) and answer as on the plain server', async () => {
  const before = await counters();
  const body = { model: plain.ctx.model.info.id, prompt: [prompts[1]], max_tokens: 20, temperature: 0, ignore_eos: true, n: 2, skip: { policy: 'explicit', plans: [{ mask_heads: { '0': [1] } }, { skip_mlp: [3] }] } } as never;
  const [x, y] = [await a.completions.create(body), await b.completions.create(body)];
  assert.deepEqual(y.choices.map((c) => c.text), x.choices.map((c) => c.text));
  assert.equal((await counters()).cycles, before.cycles);
});

test('candidates sharing a skip core speculate on top of it, head masks per candidate: greedy, the plain server\'s text and the float64 reference\'s tokens under each plan; sampled, reproducible per seed', async () => {
  const id = plain.ctx.model.info.id;
  const plans = [{ skip_mlp: [3], mask_heads: { '0': [1] } }, { skip_mlp: [3] }, { skip_attention: [2], skip_mlp: [3] }];
  const shared = { model: id, prompt: [prompts[1]], max_tokens: 24, temperature: 0, ignore_eos: true, n: 2, skip: { policy: 'explicit', plans: plans.slice(0, 2) } } as never;
  const before = await counters();
  const [x, y] = [await a.completions.create(shared), await b.completions.create(shared)];
  assert.deepEqual(y.choices.map((c) => c.text), x.choices.map((c) => c.text));
  assert.ok((await counters()).cycles > before.cycles, 'the core\'s rows speculated');
  assert.ok((y as unknown as { skip: { speedup: number } }).skip.speedup > 0);
  const ref = new ReferenceModel(openCheckpoint(testCheckpoint(CKPT)));
  for (const [c, wire] of plans.entries()) {
    const plan = { skipAttention: wire.skip_attention ?? [], skipMlp: wire.skip_mlp, maskHeads: wire.mask_heads ?? {} };
    const ids = [...prompts[1]!];
    for (let i = 0; i < 24; i++) {
      const row = ref.forward(ids, plan).at(-1)!;
      ids.push([...row.keys()].reduce((m, t) => (row[t]! > row[m]! ? t : m), 0));
    }
    const one = await b.completions.create({ model: id, prompt: [prompts[1]], max_tokens: 24, temperature: 0, ignore_eos: true, skip: { policy: 'explicit', plans: [wire] } } as never);
    assert.equal(one.choices[0]!.text, spec.ctx.model.tokenizer.decode(ids.slice(prompts[1]!.length)), `plan ${c}`);
  }
  // Sampled candidates on a core speculate too (speculative sampling under their plans), reproducibly per seed.
  const sampled = await counters();
  const body = { model: id, prompt: [prompts[2]], max_tokens: 16, temperature: 0.8, seed: 3, n: 2, ignore_eos: true, skip: { policy: 'explicit', plans: plans.slice(0, 2) } } as never;
  const [s1, s2] = [await b.completions.create(body), await b.completions.create(body)];
  assert.deepEqual(s2.choices.map((c) => c.text), s1.choices.map((c) => c.text));
  assert.ok((await counters()).cycles > sampled.cycles, 'the sampled rows on the core speculated');
});

test('sampled requests speculate (speculative sampling): reproducible per seed, each token with the model\'s own log-probability (float64 reference), top_p and top_k too', async () => {
  const client = inferenceClient(spec.grpcPort);
  const generate = (req: object) => new Promise<GenerateResponseMsg>((resolve, reject) => client.Generate!(req, (e: Error | null, r: GenerateResponseMsg) => (e ? reject(e) : resolve(r))));
  try {
    const before = await counters();
    const req = { prompt: 'The cat', max_tokens: 24, temperature: 0.8, seed: 17, n: 3, logprobs: true, ignore_eos: true };
    const [r1, r2] = [await generate(req), await generate(req)];
    assert.deepEqual(r2.candidates.map((c) => c.token_ids), r1.candidates.map((c) => c.token_ids), 'the same seed, the same tokens');
    assert.ok(new Set(r1.candidates.map((c) => c.token_ids.join(','))).size > 1, 'the candidates differ');
    const after = await counters();
    assert.ok(after.cycles > before.cycles && after.drafted > before.drafted);
    const ref = new ReferenceModel(openCheckpoint(testCheckpoint(CKPT)));
    const promptIds = spec.ctx.model.tokenizer.encode('The cat');
    for (const c of r1.candidates) {
      assert.equal(c.token_ids.length, 24);
      const rows = ref.forward([...promptIds, ...c.token_ids], FULL_PLAN);
      c.token_ids.forEach((t, j) => {
        const want = logSoftmax(rows[promptIds.length - 1 + j]!)[t]!;
        assert.ok(Math.abs(c.logprobs[j]!.logprob - want) < 1e-4, `token ${j}: ${c.logprobs[j]!.logprob} vs ${want}`);
      });
    }
    // Top-p and top-k speculate too (under the distribution they cut), reproducibly per seed.
    const mid = await counters();
    const body = { model: plain.ctx.model.info.id, prompt: [prompts[0]], max_tokens: 20, temperature: 0.9, top_p: 0.9, top_k: 30, seed: 4, n: 2, ignore_eos: true } as never;
    const [y1, y2] = [await b.completions.create(body), await b.completions.create(body)];
    assert.deepEqual(y2.choices.map((c) => c.text), y1.choices.map((c) => c.text));
    assert.ok((await counters()).cycles > mid.cycles);
  } finally {
    client.close();
  }
});

test('speculative sampling draws what plain sampling draws, in distribution: the second token\'s frequencies over 600 seeds agree, plain and with top_p and top_k', async () => {
  // Both servers sample the same prompt; the first token comes from the prompt's logits either way,
  // the second from a cycle (draft kept or resampled) or a plain step. Compared by total variation.
  const second = async (c: OpenAI, params: object) => {
    const counts = new Map<string, number>();
    for (let s = 0; s < 100; s++) {
      const r = await c.completions.create({ model: plain.ctx.model.info.id, prompt: [prompts[2]], max_tokens: 2, seed: 1000 * s, n: 6, ignore_eos: true, logprobs: 0, ...params } as never);
      for (const ch of r.choices) {
        const t = (ch.logprobs as unknown as TextLogprobs).tokens[1] ?? '';
        counts.set(t, (counts.get(t) ?? 0) + 1);
      }
    }
    return counts;
  };
  for (const params of [{ temperature: 1 }, { temperature: 1, top_p: 0.8, top_k: 40 }]) {
    const [px, py] = [await second(a, params), await second(b, params)];
    let tv = 0;
    for (const t of new Set([...px.keys(), ...py.keys()])) tv += Math.abs((px.get(t) ?? 0) - (py.get(t) ?? 0)) / 600;
    assert.ok(tv / 2 < 0.15, `${JSON.stringify(params)}: total variation ${tv / 2}`);
  }
});

test('--speculative-config: off, auto without the model file, JSON; a bad value names the flag', () => {
  const info = { numLayers: 4, numHeads: 4 };
  const dir = testCheckpoint(CKPT);
  assert.equal(resolveSpeculative('off', dir, info), null);
  assert.equal(resolveSpeculative('auto', dir, info), null);
  assert.deepEqual(resolveSpeculative(SPEC, dir, info), { draft: { skipAttention: [1, 2], skipMlp: [1, 2], maskHeads: {} }, tokens: 4 });
  const limited = JSON.stringify({ ...JSON.parse(SPEC), disable_by_batch_size: 16 });
  assert.deepEqual(resolveSpeculative(limited, dir, info), { draft: { skipAttention: [1, 2], skipMlp: [1, 2], maskHeads: {} }, tokens: 4, disableByBatchSize: 16 });
  assert.throws(() => resolveSpeculative(JSON.stringify({ ...JSON.parse(SPEC), disable_by_batch_size: 0 }), dir, info), (e: unknown) => e instanceof ConfigError && /disable_by_batch_size/.test(e.message));
  for (const bad of ['{', '{"method":"ngram","draft":{},"num_speculative_tokens":3}', '{"method":"skip","draft":{"skip_layers":[9]},"num_speculative_tokens":3}', '{"method":"skip","draft":{},"num_speculative_tokens":3}', '{"method":"skip","draft":{"skip_layers":[1]},"num_speculative_tokens":0}']) {
    assert.throws(() => resolveSpeculative(bad, dir, info), (e: unknown) => e instanceof ConfigError && e.field === 'speculative-config', bad);
  }
});

test('disable_by_batch_size: a request that would decode beside more rows than the limit decodes plainly (the same greedy answer); within it, it speculates', async () => {
  const limited = await startTestServer({ speculativeConfig: JSON.stringify({ ...JSON.parse(SPEC), disable_by_batch_size: 2 }) }, CKPT);
  try {
    const c = new OpenAI({ baseURL: `${limited.http}/v1`, apiKey: 'unused', maxRetries: 0 });
    const cycles = async () => metricValue(await (await fetch(`${limited.http}/metrics`)).text(), 'skipserve_spec_decode_cycles_total') ?? 0;
    const id = plain.ctx.model.info.id;
    const body = (n: number, tokens = 24) => ({ model: id, prompt: [prompts[1]!], max_tokens: tokens, temperature: 0, n, ignore_eos: true }) as never;
    const want = (await a.completions.create(body(3))).choices.map((x) => x.text);
    // Three rows on their own: over the limit, no cycle; the plain answer.
    const c0 = await cycles();
    const three = await c.completions.create(body(3));
    assert.deepEqual(three.choices.map((x) => x.text), want);
    assert.equal(await cycles(), c0, 'n = 3 > 2 rows: no speculative cycle');
    // Two rows: within the limit, they speculate.
    const two = await c.completions.create(body(2));
    assert.deepEqual(two.choices.map((x) => x.text), want.slice(0, 2));
    const c1 = await cycles();
    assert.ok(c1 > c0, 'n = 2 rows speculate');
    // One row arriving beside two in flight: 3 rows, so it decodes plainly (decode steps that are no
    // cycle: the two rows beside it only cycle), and still answers as the plain server.
    const counts = async () => {
      const text = await (await fetch(`${limited.http}/metrics`)).text();
      const steps = text.split('\n').filter((l) => l.startsWith('skipserve_decode_steps_total{')).reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
      return { steps, cycles: metricValue(text, 'skipserve_spec_decode_cycles_total') ?? 0, rows: metricValue(text, 'skipserve_running_rows') ?? 0 };
    };
    let settled = false;
    const long = c.completions.create(body(2, 250)).finally(() => (settled = true));
    await waitFor(async () => settled || (await counts()).rows >= 2, 10_000, 'the two-row request to decode');
    const before = await counts();
    const one = await c.completions.create(body(1));
    const after = await counts();
    assert.equal(one.choices[0]!.text, want[0]);
    assert.ok(((one as unknown as { skip: { speedup: number } }).skip.speedup) > 0);
    assert.ok(!settled, 'the two-row request was still decoding');
    assert.ok(after.steps - before.steps > after.cycles - before.cycles, `plain steps ran beside the cycles: ${JSON.stringify({ before, after })}`);
    await long;
  } finally {
    await limited.close();
  }
});
