// Beam search (vLLM's use_beam_search and length_penalty) through the unmodified openai client:
// the beams the server returns are the ones a plain beam search over the float64 reference
// forward pass finds (vLLM's algorithm, run to max_tokens with no early stop), in the same order,
// for several widths and length penalties, with end-of-sequence on and off; best_of > n returns
// the n best; streamed, each beam comes whole and matches the unstreamed response; chat works;
// fields that reshape the distribution, guides and per-candidate plans are refused naming the field.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { ReferenceModel } from '../src/model/reference.ts';
import { FULL_PLAN } from '../src/plans/plan.ts';
import { startTestServer, testCheckpoint, waitFor, type TestServer } from './helpers/start-server.ts';
import { logSoftmax } from './helpers/log-softmax.ts';

let server: TestServer;
let client: OpenAI;
let ref: ReferenceModel;
before(async () => {
  server = await startTestServer();
  client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'unused', maxRetries: 0 });
  ref = new ReferenceModel(openCheckpoint(testCheckpoint()));
});
after(async () => {
  await server?.close();
});

interface RefBeam {
  gen: number[];
  sum: number;
  /** Tokens the score divides by (prompt and output, an end-of-sequence token not counted). */
  len: number;
  finish: 'stop' | 'length';
}

/** vLLM's beam search over the float64 reference: every step, each beam's 2·width best tokens; no early stop. */
function referenceBeams(prompt: number[], width: number, maxTokens: number, lengthPenalty: number, eos: readonly number[]): RefBeam[] {
  const score = (b: RefBeam) => b.sum / b.len ** lengthPenalty;
  let live: RefBeam[] = [{ gen: [], sum: 0, len: prompt.length, finish: 'length' }];
  const done: RefBeam[] = [];
  for (let step = 0; step < maxTokens && live.length; step++) {
    const next: RefBeam[] = [];
    for (const b of live) {
      const rows = ref.forward([...prompt, ...b.gen], FULL_PLAN);
      const lp = logSoftmax(rows[rows.length - 1]!);
      const top = [...lp.keys()].sort((x, y) => lp[y]! - lp[x]!).slice(0, 2 * width);
      for (const t of top) {
        if (eos.includes(t)) done.push({ gen: b.gen, sum: b.sum + lp[t]!, len: b.len, finish: 'stop' });
        else next.push({ gen: [...b.gen, t], sum: b.sum + lp[t]!, len: b.len + 1, finish: 'length' });
      }
    }
    live = next.sort((a, b) => score(b) - score(a)).slice(0, width);
  }
  return [...done, ...live].sort((a, b) => score(b) - score(a)).slice(0, width);
}

const prompt = [3 + 72, 3 + 105, 3 + 33, 3 + 32, 3 + 84, 3 + 104];

for (const [width, maxTokens, lengthPenalty, ignoreEos] of [
  [1, 6, 1, false],
  [3, 6, 1, false],
  [4, 5, 0, false],
  [4, 5, 2, true],
  [6, 4, -1, false],
] as const) {
  test(`beam search, width ${width}, ${maxTokens} tokens, length_penalty ${lengthPenalty}${ignoreEos ? ', ignore_eos' : ''}: the reference's beams, in its order`, async () => {
    const info = server.ctx.model.info;
    const eos = ignoreEos ? [] : info.eosTokenIds;
    const want = referenceBeams(prompt, width, maxTokens, lengthPenalty, eos);
    const r = await client.completions.create({ model: info.id, prompt: [prompt], n: width, max_tokens: maxTokens, use_beam_search: true, length_penalty: lengthPenalty, ignore_eos: ignoreEos } as never);
    const decode = (ids: number[]) => server.ctx.model.tokenizer.decode(ids);
    assert.deepEqual(
      r.choices.map((c) => [c.index, c.text, c.finish_reason]),
      want.map((b, i) => [i, decode(b.gen), b.finish]),
    );
    assert.equal(r.usage!.completion_tokens, want.reduce((s, b) => s + b.gen.length, 0));
  });
}

test('beam search with a likely stop token over 30 tokens: beams that end and beams that go on, as the reference ranks them (the search stops early when no live beam can win)', async () => {
  const info = server.ctx.model.info;
  // The greedy continuation's runner-up at its fifth token stops beams, so some end along the way.
  const greedy: number[] = [];
  let ranked: number[] = [];
  while (greedy.length < 5) {
    const lp = logSoftmax(ref.forward([...prompt, ...greedy], FULL_PLAN).at(-1)!);
    ranked = [...lp.keys()].sort((x, y) => lp[y]! - lp[x]!);
    greedy.push(ranked[0]!);
  }
  const stops = [ranked[1]!];
  const finishes = new Set<string>();
  // Length penalties where all beams end early, some do, none do.
  for (const [width, lengthPenalty] of [[3, 0], [4, 0.5], [4, 0.7], [3, 1]] as const) {
    const want = referenceBeams(prompt, width, 30, lengthPenalty, [...info.eosTokenIds, ...stops]);
    for (const b of want) finishes.add(b.finish);
    const r = await client.completions.create({ model: info.id, prompt: [prompt], n: width, max_tokens: 30, use_beam_search: true, length_penalty: lengthPenalty, stop_token_ids: stops } as never);
    assert.deepEqual(
      r.choices.map((c) => [c.text, c.finish_reason]),
      want.map((b) => [server.ctx.model.tokenizer.decode(b.gen), b.finish]),
      `width ${width}, length_penalty ${lengthPenalty}`,
    );
  }
  assert.deepEqual([...finishes].sort(), ['length', 'stop'], 'beams ended by the stop token and by max_tokens');
});

test('beam search: best_of > n returns the n best beams, naming each one\'s place among all', async () => {
  const info = server.ctx.model.info;
  const want = referenceBeams(prompt, 4, 5, 1, info.eosTokenIds);
  const r = await client.completions.create({ model: info.id, prompt: [prompt], n: 2, best_of: 4, max_tokens: 5, use_beam_search: true } as never);
  assert.deepEqual(
    r.choices.map((c) => [c.index, c.text, (c as unknown as { candidate_index: number }).candidate_index]),
    want.slice(0, 2).map((b, i) => [i, server.ctx.model.tokenizer.decode(b.gen), i]),
  );
});

test('beam search streamed: each returned beam comes whole, as the unstreamed response has it', async () => {
  const body = { model: server.ctx.model.info.id, prompt: 'Hi! Th', n: 2, best_of: 3, max_tokens: 8, use_beam_search: true };
  const whole = await client.completions.create(body as never);
  const texts = new Map<number, string>();
  const finish = new Map<number, string | null>();
  for await (const chunk of await client.completions.create({ ...body, stream: true } as never) as unknown as AsyncIterable<OpenAI.Completion>) {
    for (const c of chunk.choices) {
      texts.set(c.index, (texts.get(c.index) ?? '') + c.text);
      if (c.finish_reason) finish.set(c.index, c.finish_reason);
    }
  }
  assert.deepEqual([...texts.entries()].sort(), whole.choices.map((c) => [c.index, c.text]));
  assert.deepEqual([...finish.entries()].sort(), whole.choices.map((c) => [c.index, c.finish_reason]));
});

test('beam search on chat, with logprobs: each beam\'s tokens carry their log-probabilities', async () => {
  const r = await client.chat.completions.create({ model: server.ctx.model.info.id, messages: [{ role: 'user', content: 'Hello' }], n: 3, max_tokens: 6, logprobs: true, top_logprobs: 2, use_beam_search: true } as never);
  assert.equal(r.choices.length, 3);
  const sums = r.choices.map((c) => c.logprobs!.content!.reduce((s, t) => s + t.logprob, 0));
  for (const c of r.choices) for (const t of c.logprobs!.content!) assert.ok(t.top_logprobs.length <= 2 && t.top_logprobs.length >= 1);
  // Same length (no end of sequence here, or an earlier one): the better beam has the larger sum.
  const lens = r.choices.map((c) => c.logprobs!.content!.length);
  for (let i = 1; i < 3; i++) if (lens[i] === lens[i - 1] && r.choices[i]!.finish_reason === 'length' && r.choices[i - 1]!.finish_reason === 'length') assert.ok(sums[i - 1]! >= sums[i]! - 1e-6);
});

test('beam search refuses what it cannot honour, naming the field', async () => {
  const post = async (extra: object) => {
    const res = await fetch(`${server.http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Hi', max_tokens: 4, n: 2, ...extra }) });
    return { status: res.status, param: ((await res.json()) as { error: { param: string } }).error?.param };
  };
  assert.deepEqual(await post({ length_penalty: 2 }), { status: 400, param: 'length_penalty' });
  assert.deepEqual(await post({ use_beam_search: true, length_penalty: 1e9 }), { status: 400, param: 'length_penalty' });
  assert.deepEqual(await post({ use_beam_search: true, logit_bias: { '5': 3 } }), { status: 400, param: 'logit_bias' });
  assert.deepEqual(await post({ use_beam_search: true, presence_penalty: 0.5 }), { status: 400, param: 'presence_penalty' });
  assert.deepEqual(await post({ use_beam_search: true, guided_regex: 'a+' }), { status: 400, param: 'guided_regex' });
  assert.deepEqual(await post({ use_beam_search: true, skip: { policy: 'random-heads' } }), { status: 400, param: 'skip.policy' });
  assert.deepEqual(await post({ use_beam_search: 'yes' }), { status: 400, param: 'use_beam_search' });
  // Sampling fields it does not use are accepted and ignored, as vLLM does.
  assert.equal((await post({ use_beam_search: true, temperature: 1.3, top_p: 0.5, seed: 3 })).status, 200);
});

test('beam search with min_tokens and stop tokens crowding the top: no beam ends early, and width beams still come back', async () => {
  const first = logSoftmax(ref.forward(prompt, FULL_PLAN).at(-1)!);
  const top = [...first.keys()].sort((x, y) => first[y]! - first[x]!).slice(0, 10);
  const r = await client.completions.create({ model: server.ctx.model.info.id, prompt: [prompt], n: 2, max_tokens: 6, min_tokens: 3, stop_token_ids: top, use_beam_search: true, logprobs: 0 } as never);
  assert.equal(r.choices.length, 2);
  for (const c of r.choices) assert.ok((c.logprobs as unknown as { tokens: string[] }).tokens.length >= 3, `${c.logprobs?.tokens?.length} tokens`);
});

test('a beam search the client abandons frees its beams', async () => {
  const ac = new AbortController();
  const pending = client.completions.create({ model: server.ctx.model.info.id, prompt: [prompt], n: 4, max_tokens: 200, ignore_eos: true, use_beam_search: true } as never, { signal: ac.signal });
  await waitFor(() => server.ctx.model.engine.runningRows() === 4, 5000, 'the beams to run');
  ac.abort();
  await assert.rejects(pending);
  await waitFor(() => server.ctx.model.engine.runningRows() === 0, 5000, 'the beams to be freed');
});
