// End-to-end: the real server on loopback, called with the official `openai` npm client.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestServer, type TestServer } from './helpers/start-server.ts';
import { rankCandidates, selectCandidate } from '../src/engine/vote.ts';
import { subNetworkPlans } from '../src/plans/policies/sub-networks.ts';
import { planToWire } from '../src/plans/plan.ts';

let server: TestServer;
let client: OpenAI;

before(async () => {
  server = await startTestServer({ apiKey: 'test-key' });
  client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'test-key', maxRetries: 0 });
});
after(() => server?.close());

const messages = [{ role: 'user' as const, content: 'What is 2+3?' }];

test('chat completion: OpenAI shape, usage and the skip summary', async () => {
  const r = await client.chat.completions.create({ model: server.ctx.model.info.id, messages, max_tokens: 6, seed: 11, temperature: 0.8 });
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0]!.message.role, 'assistant');
  assert.ok(['stop', 'length'].includes(r.choices[0]!.finish_reason));
  assert.ok(r.usage!.prompt_tokens > 0);
  assert.equal(r.usage!.total_tokens, r.usage!.prompt_tokens + r.usage!.completion_tokens);
  const skip = (r as unknown as { skip: Record<string, unknown> }).skip;
  assert.equal(skip.policy, 'none');
  assert.equal(skip.selected_index, 0);
  assert.equal(skip.skipped_compute_ratio, 0);
  assert.deepEqual((r.choices[0] as unknown as { skip_plan: unknown }).skip_plan, {});
});

test('seed reproducibility: same seed same text, streaming equals non-streaming', async () => {
  const body = { model: server.ctx.model.info.id, messages, max_tokens: 12, seed: 1234, temperature: 1, top_p: 0.9 };
  const a = await client.chat.completions.create(body);
  const b = await client.chat.completions.create(body);
  assert.equal(a.choices[0]!.message.content, b.choices[0]!.message.content);
  const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let finish: string | null = null;
  let usage = 0;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      assert.equal(c.index, 0);
      text += c.delta.content ?? '';
      finish = c.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage.completion_tokens;
  }
  assert.equal(text, a.choices[0]!.message.content);
  assert.equal(finish, a.choices[0]!.finish_reason);
  assert.equal(usage, a.usage!.completion_tokens);
  const seeds = new Set<string>();
  for (const seed of [1, 2, 3, 4, 5, 6]) seeds.add((await client.chat.completions.create({ ...body, seed, temperature: 2, top_p: 1 })).choices[0]!.message.content!);
  assert.ok(seeds.size > 1, 'different seeds give different samples');
});

test("stream_options.include_obfuscation: false is taken on chat and the Responses API (no event is padded), true is a 400 naming it", async () => {
  const model = server.ctx.model.info.id;
  const body = { model, messages, max_tokens: 4, temperature: 0, stream: true as const };
  let text = '';
  for await (const chunk of await client.chat.completions.create({ ...body, stream_options: { include_usage: true, include_obfuscation: false } } as never) as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>) {
    assert.ok(!('obfuscation' in chunk));
    text += chunk.choices[0]?.delta.content ?? '';
  }
  assert.equal(text, (await client.chat.completions.create({ ...body, stream: false })).choices[0]!.message.content);
  let done = false;
  for await (const ev of (await client.responses.create({ model, input: 'Hi', max_output_tokens: 4, stream: true, stream_options: { include_obfuscation: false } } as never)) as unknown as AsyncIterable<{ type: string }>) done ||= ev.type === 'response.completed' || ev.type === 'response.incomplete';
  assert.ok(done);
  for (const create of [() => client.chat.completions.create({ ...body, stream_options: { include_obfuscation: true } } as never), () => client.responses.create({ model, input: 'Hi', stream: true, stream_options: { include_obfuscation: true } } as never)]) {
    await assert.rejects(create(), (e: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(e.status, 400);
      assert.equal((e.error as { param: string }).param, 'stream_options.include_obfuscation');
      return true;
    });
  }
});

test('n=4 best-of-N with random-heads: four choices with distinct plans, streamed per index', async () => {
  const body = { model: server.ctx.model.info.id, messages, max_tokens: 8, n: 4, seed: 7, temperature: 0, skip: { policy: 'random-heads', k: 2 } };
  const r = (await client.chat.completions.create(body as never)) as unknown as OpenAI.ChatCompletion & { skip: { policy: string; selected_index: number; speedup: number; diversity: Record<string, number> } };
  assert.equal(r.choices.length, 4);
  const plans = r.choices.map((c) => JSON.stringify((c as unknown as { skip_plan: unknown }).skip_plan));
  assert.equal(new Set(plans).size, 4, `distinct plans: ${plans.join(' ')}`);
  for (const c of r.choices) {
    const heads = Object.values((c as unknown as { skip_plan: { mask_heads: Record<string, number[]> } }).skip_plan.mask_heads).flat();
    assert.equal(heads.length, 2, 'k=2 heads masked per candidate');
  }
  assert.equal(r.skip.policy, 'random-heads');
  assert.ok(r.skip.selected_index >= 0 && r.skip.selected_index < 4);
  assert.equal(r.choices.filter((c) => (c as unknown as { selected: boolean }).selected).length, 1);
  assert.ok(r.skip.speedup > 0, 'a measured speedup is reported');
  for (const k of ['unique_answers', 'answer_entropy', 'distinct_2', 'mean_pairwise_distance']) assert.equal(typeof r.skip.diversity[k], 'number', k);
  // Streaming: every delta names its choice; the texts equal the non-streamed ones (greedy, same plans).
  const stream = await client.chat.completions.create({ ...body, stream: true } as never) as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>;
  const texts = ['', '', '', ''];
  for await (const chunk of stream) for (const c of chunk.choices) texts[c.index] += c.delta.content ?? '';
  assert.deepEqual(texts, r.choices.map((c) => c.message.content));
});

test('best_of: generates best_of candidates and returns the n best under the select rule, best first; not with stream', async () => {
  type Choice = OpenAI.Completions.CompletionChoice & { candidate_index?: number; selected: boolean; answer: string | null; score: number | null };
  type Body = Omit<OpenAI.Completions.Completion, 'choices'> & { choices: Choice[]; skip: { selected_index: number } };
  const model = server.ctx.model.info.id;
  const body = { model, prompt: 'Q: 2+3? A:', max_tokens: 8, seed: 21, temperature: 1.2 };
  // The same candidates (candidate i samples with seed + i), all returned: the reference ranking.
  const all = (await client.completions.create({ ...body, n: 5, logprobs: 0 })) as unknown as Body;
  const best = (await client.completions.create({ ...body, n: 2, best_of: 5 })) as unknown as Body;
  assert.deepEqual(best.choices.map((c) => c.index), [0, 1]);
  const scored = all.choices.map((c) => ({ answer: c.answer, meanLogprob: c.score ?? -Infinity, tokens: c.logprobs!.tokens!.length }));
  const ranking = rankCandidates(scored, 'vote');
  assert.deepEqual(best.choices.map((c) => c.candidate_index), ranking.slice(0, 2));
  assert.deepEqual(best.choices.map((c) => c.text), ranking.slice(0, 2).map((i) => all.choices[i]!.text));
  assert.equal(best.choices[0]!.selected, true, 'the first choice is the selected one');
  assert.equal(best.skip.selected_index, best.choices[0]!.candidate_index);
  assert.equal(best.usage!.completion_tokens, all.usage!.completion_tokens, 'usage counts every generated candidate');
  // select logprob: by mean log-probability.
  const byLp = (await client.completions.create({ ...body, n: 1, best_of: 5, skip: { select: 'logprob' } } as never)) as unknown as Body;
  assert.deepEqual(byLp.choices.map((c) => c.candidate_index), rankCandidates(scored, 'logprob').slice(0, 1));
  // best_of = n changes nothing (and may stream); chat takes it too (an extension, as vLLM's).
  const same = (await client.completions.create({ ...body, n: 5, best_of: 5, logprobs: 0 })) as unknown as Body;
  assert.deepEqual(same.choices.map((c) => c.text), all.choices.map((c) => c.text));
  assert.equal(same.choices[0]!.candidate_index, undefined);
  const chat = (await client.chat.completions.create({ model, messages, max_tokens: 6, seed: 4, temperature: 1, n: 1, best_of: 3 } as never)) as unknown as OpenAI.ChatCompletion & { choices: { candidate_index: number; selected: boolean }[] };
  assert.equal(chat.choices.length, 1);
  assert.equal(chat.choices[0]!.selected, true);
  const refused = async (extra: Record<string, unknown>, message: RegExp) =>
    assert.rejects(client.completions.create({ ...body, ...extra } as never), (e: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(e.status, 400);
      assert.equal((e.error as { param: string | null }).param, 'best_of');
      assert.match(e.message, message);
      return true;
    });
  await refused({ n: 1, best_of: 4, stream: true }, /cannot be streamed/);
  await refused({ n: 3, best_of: 2 }, /from n \(3\)/);
  await refused({ n: 1, best_of: 1.5 }, /integer/);
});

test('a batch of prompts (completions): one request each, choices by prompt then candidate, each naming its request; streamed alike; errors name the prompt', async () => {
  type Choice = OpenAI.Completions.CompletionChoice & { request_id: string; selected: boolean };
  type Body = Omit<OpenAI.Completions.Completion, 'choices'> & { choices: Choice[]; skip: { prompts: { request_id: string; selected_index: number }[] } };
  const model = server.ctx.model.info.id;
  const prompts = ['Q: 1+1? A:', 'Q: 7*6? A:', 'x'];
  const opts = { model, max_tokens: 6, n: 2, seed: 13, temperature: 1 };
  const r = (await client.completions.create({ ...opts, prompt: prompts })) as unknown as Body;
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2, 3, 4, 5]);
  assert.equal(r.skip.prompts.length, 3);
  let completion = 0;
  for (const [k, p] of prompts.entries()) {
    const alone = await client.completions.create({ ...opts, prompt: p });
    completion += alone.usage!.completion_tokens;
    const mine = r.choices.slice(2 * k, 2 * k + 2);
    assert.deepEqual(mine.map((c) => c.text), alone.choices.map((c) => c.text), `prompt ${k} as alone`);
    assert.ok(mine.every((c) => c.request_id === r.skip.prompts[k]!.request_id));
    assert.equal(mine.filter((c) => c.selected).length, 1);
  }
  assert.equal(r.id, r.skip.prompts[0]!.request_id);
  assert.equal(new Set(r.skip.prompts.map((p) => p.request_id)).size, 3);
  assert.equal(r.usage!.completion_tokens, completion);
  // Token-id prompts batch the same way; streamed, every delta carries its batch-wide index.
  const ids = (await client.completions.create({ ...opts, prompt: [[5, 6, 7], [8, 9]] })) as unknown as Body;
  assert.equal(ids.choices.length, 4);
  const stream = (await client.completions.create({ ...opts, prompt: prompts, stream: true, stream_options: { include_usage: true } })) as unknown as AsyncIterable<OpenAI.Completions.Completion & { skip?: Body['skip'] }>;
  const texts = ['', '', '', '', '', ''];
  let last: (OpenAI.Completions.Completion & { skip?: Body['skip'] }) | null = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) texts[c.index] += c.text;
    last = chunk;
  }
  assert.deepEqual(texts, r.choices.map((c) => c.text));
  assert.equal(last!.skip!.prompts.length, 3);
  assert.equal(last!.usage!.completion_tokens, r.usage!.completion_tokens);
  const refused = async (body: Record<string, unknown>, param: string) =>
    assert.rejects(client.completions.create({ ...opts, ...body } as never), (e: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(e.status, 400);
      assert.equal((e.error as { param: string | null }).param, param, e.message);
      return true;
    });
  await refused({ prompt: ['Q: 1+1? A:', 'y'.repeat(5000)] }, 'prompt[1]');
  await refused({ prompt: [[5, 6], [7, 1e9]] }, 'prompt[1][1]');
  await refused({ prompt: Array.from({ length: 65 }, () => 'a') }, 'prompt');
});

test('sub-networks fast mode on a model without router calibration: a 400 that names skip.target_speedup', async () => {
  const body = { model: server.ctx.model.info.id, messages, max_tokens: 4, n: 2, skip: { policy: 'sub-networks', target_speedup: 1.25 } };
  await assert.rejects(client.chat.completions.create(body as never), (e: unknown) => {
    const err = e as { status: number; param: string; message: string };
    return err.status === 400 && err.param === 'skip.target_speedup' && /calibration/.test(err.message);
  });
});

test('sub-networks: candidate 0 the full model, select weighted by default: the server picks the answer with the largest summed sequence probability', async () => {
  // The test model's text is arbitrary, so the answer is its first character: candidates then share answers.
  const body = { model: server.ctx.model.info.id, messages, max_tokens: 6, n: 8, seed: 21, temperature: 1.5, logprobs: true, skip: { policy: 'sub-networks', answer_pattern: '^\\s*(\\S)' } };
  const r = (await client.chat.completions.create(body as never)) as unknown as OpenAI.ChatCompletion & { skip: { selected_index: number } };
  const scored = r.choices.map((c) => {
    const x = c as unknown as { answer: string | null; score: number; logprobs: { content: unknown[] } };
    return { answer: x.answer, meanLogprob: x.score, tokens: x.logprobs.content.length };
  });
  assert.ok(scored.some((c) => c.answer !== null), 'some candidates have an answer');
  assert.equal(r.skip.selected_index, selectCandidate(scored, 'weighted'));
  const plans = r.choices.map((c) => (c as unknown as { skip_plan: Record<string, unknown> }).skip_plan);
  assert.deepEqual(plans[0], {}, 'candidate 0 is the full model');
  assert.equal((r as unknown as { skip: { policy: string } }).skip.policy, 'sub-networks');
  // Asked for, the majority vote is what the request gets.
  const voted = (await client.chat.completions.create({ ...body, skip: { ...body.skip, select: 'vote' } } as never)) as unknown as OpenAI.ChatCompletion & { skip: { selected_index: number } };
  const votedScored = voted.choices.map((c) => {
    const x = c as unknown as { answer: string | null; score: number; logprobs: { content: unknown[] } };
    return { answer: x.answer, meanLogprob: x.score, tokens: x.logprobs.content.length };
  });
  assert.equal(voted.skip.selected_index, selectCandidate(votedScored, 'vote'));
  assert.equal(r.choices.filter((c) => (c as unknown as { selected: boolean }).selected).length, 1);
  // skip.core_fraction: sub-networks of another size, the same seeded list for every request.
  const wide = (await client.chat.completions.create({ ...body, n: 4, temperature: 0, skip: { policy: 'sub-networks', core_fraction: 0.4 } } as never)) as unknown as OpenAI.ChatCompletion & { skip: { policy_detail: { fraction: number } } };
  assert.equal(wide.skip.policy_detail.fraction, 0.4);
  assert.deepEqual(wide.choices.map((c) => (c as unknown as { skip_plan: unknown }).skip_plan), subNetworkPlans(server.ctx.model.info, 4, 0.4).map((p) => planToWire(p)));
  for (const [skip, message] of [[{ policy: 'random-heads', core_fraction: 0.2 }, /applies to policy 'sub-networks'/], [{ policy: 'sub-networks', core_fraction: 0.9 }, /\(0, 0\.6\]/]] as const) {
    await assert.rejects(client.chat.completions.create({ ...body, skip } as never), (e: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(e.status, 400);
      assert.equal((e.error as { param: string | null }).param, 'skip.core_fraction');
      assert.match(e.message, message);
      return true;
    });
  }
});

test('continuous batching: concurrent requests give the same greedy output as alone', async () => {
  const prompts = ['Q: 1+1? A:', 'Tell me a story about a cat', 'x', 'The answer is'];
  const ask = (prompt: string, i: number) => client.completions.create({ model: server.ctx.model.info.id, prompt, max_tokens: 10 + i, temperature: 0, n: 1 + (i % 2) });
  const alone: string[][] = [];
  for (const [i, p] of prompts.entries()) alone.push((await ask(p, i)).choices.map((c) => c.text));
  const wide = async () => {
    const h = await server.ctx.model.metrics.batchSize.get();
    const count = h.values.find((v) => v.metricName === 'skipserve_batch_size_count')!.value;
    const le2 = h.values.find((v) => v.metricName === 'skipserve_batch_size_bucket' && v.labels.le === 2)!.value;
    return count - le2;
  };
  const before = await wide();
  const together = await Promise.all(prompts.map((p, i) => ask(p, i)));
  assert.deepEqual(together.map((r) => r.choices.map((c) => c.text)), alone);
  assert.ok((await wide()) > before, 'some decode steps carried rows of several requests');
});

test('stop strings cut the text before the stop, streamed or not', async () => {
  const body = { model: server.ctx.model.info.id, prompt: 'Q: 1+1? A:', max_tokens: 16, temperature: 0, ignore_eos: true };
  const full = (await client.completions.create(body as never)).choices[0]!.text;
  const clean = [...full].filter((ch) => ch !== '\uFFFD').join('');
  assert.ok(clean.length >= 4, `enough text to cut: ${JSON.stringify(full)}`);
  const stop = clean.slice(2, 4);
  const cut = await client.completions.create({ ...body, stop: [stop] } as never);
  assert.equal(cut.choices[0]!.text, full.slice(0, full.indexOf(stop)));
  assert.equal(cut.choices[0]!.finish_reason, 'stop');
  const stream = (await client.completions.create({ ...body, stop: [stop], stream: true } as never)) as unknown as AsyncIterable<{ choices: { text: string }[] }>;
  let streamed = '';
  for await (const chunk of stream) for (const c of chunk.choices) streamed += c.text;
  assert.equal(streamed, cut.choices[0]!.text);
});

test('completions endpoint, models list and retrieve', async () => {
  const r = await client.completions.create({ model: server.ctx.model.info.id, prompt: 'Q: 1+1? A:', max_tokens: 5, seed: 3, logprobs: 2 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices[0]!.logprobs!.tokens!.length, r.usage!.completion_tokens);
  assert.ok(r.choices[0]!.logprobs!.token_logprobs!.every((l) => l! <= 0));
  const models = await client.models.list();
  assert.equal(models.data[0]!.id, server.ctx.model.info.id);
  const policies = (models.data[0] as unknown as { skip_policies: { name: string }[] }).skip_policies.map((p) => p.name);
  for (const p of ['none', 'explicit', 'random-heads']) assert.ok(policies.includes(p), p);
  const one = await client.models.retrieve(server.ctx.model.info.id);
  assert.deepEqual(one, models.data[0], 'retrieve gives the listed model object');
  await assert.rejects(client.models.retrieve('gpt-4o'), (e: InstanceType<typeof OpenAI.APIError>) => {
    assert.equal(e.status, 404);
    assert.equal((e.error as { param: string | null }).param, 'model');
    return true;
  });
});

test('prefix cache: a repeated few-shot prompt reports its cached tokens (usage.prompt_tokens_details) and gives the same text', async () => {
  const fewShot = 'Q: 12+30? A: 42. Q: 7+8? A: 15. Q: 9+9? A: 18. Q: 5+6? A:';
  const ask = () => client.completions.create({ model: server.ctx.model.info.id, prompt: fewShot, max_tokens: 6, seed: 5, temperature: 0.9, n: 2 });
  const first = await ask();
  const second = await ask();
  assert.equal(first.usage!.prompt_tokens_details?.cached_tokens, 0);
  assert.equal(second.usage!.prompt_tokens_details?.cached_tokens, second.usage!.prompt_tokens - 1, 'all but the last position copied');
  assert.deepEqual(second.choices.map((c) => c.text), first.choices.map((c) => c.text));
  const other = await client.completions.create({ model: server.ctx.model.info.id, prompt: fewShot.replace('5+6', '4+4'), max_tokens: 2 });
  assert.ok(other.usage!.prompt_tokens_details!.cached_tokens! >= 16, 'the shared exemplars are copied');
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.match(metrics, /skipserve_prompt_cached_tokens_total\{policy="none"\} \d+/);
  assert.ok(Number(/^skipserve_prefix_cache_positions (\d+)/m.exec(metrics)?.[1]) >= 64, 'the cached prompts, as allocated');
});

test('penalties and min_p: OpenAI fields the client sends unchanged; the same seed gives the same text, and they change greedy text', async () => {
  const base = { model: server.ctx.model.info.id, messages, max_tokens: 12, temperature: 0, ignore_eos: true };
  const plain = await client.chat.completions.create(base as never);
  const penalized = { ...base, frequency_penalty: 2, presence_penalty: 1 };
  const a = await client.chat.completions.create(penalized as never);
  const b = await client.chat.completions.create(penalized as never);
  assert.equal(a.choices[0]!.message.content, b.choices[0]!.message.content, 'deterministic');
  assert.notEqual(a.choices[0]!.message.content, plain.choices[0]!.message.content, 'greedy text changes under the penalties');
  const minP = { ...base, temperature: 1, seed: 5, min_p: 0.3, n: 2 } as never;
  const c = await client.chat.completions.create(minP);
  assert.deepEqual((await client.chat.completions.create(minP)).choices.map((x) => x.message.content), c.choices.map((x) => x.message.content));
});

test('logit_bias: a token pushed to +100 is drawn every time, one at -100 never; logprobs stay the model\'s own', async () => {
  const base = { model: server.ctx.model.info.id, messages, max_tokens: 6, ignore_eos: true, logprobs: true };
  const plain = await client.chat.completions.create({ ...base, temperature: 0 } as never);
  const first = plain.choices[0]!.logprobs!.content![0]!;
  const id = 3 + first.bytes![0]!; // the test tokenizer: one token per byte, after 3 specials
  const banned = await client.chat.completions.create({ ...base, temperature: 0, logit_bias: { [String(id)]: -100 } } as never);
  assert.ok(banned.choices[0]!.logprobs!.content!.every((t) => t.bytes![0] !== first.bytes![0]), 'the greedy first token is never drawn at -100');
  const forced = await client.chat.completions.create({ ...base, temperature: 1, seed: 3, n: 2, logit_bias: { [3 + 65]: 100 } } as never);
  for (const c of forced.choices) {
    assert.equal(c.message.content, 'AAAAAA', 'the token of byte A every time');
    assert.ok(c.logprobs!.content!.every((t) => t.logprob < 0), "the model's own log-probabilities, not the biased ones");
  }
});

test('errors: exact status codes and the field named', async () => {
  const bad = async (body: Record<string, unknown>, status: number, param: string | null) => {
    await assert.rejects(client.chat.completions.create({ model: server.ctx.model.info.id, messages, max_tokens: 4, ...body } as never), (e: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(e.status, status, JSON.stringify(e.error));
      assert.equal((e.error as { param: string | null }).param, param);
      return true;
    });
  };
  await bad({ n: 9 }, 400, 'n');
  await bad({ n: 0 }, 400, 'n');
  await bad({ max_tokens: 100000 }, 400, 'max_tokens');
  await bad({ skip: { policy: 'no-such-policy' } }, 400, 'skip.policy');
  await bad({ n: 2, skip: { policy: 'explicit', plans: [{}, { mask_heads: { '0': [9] } }] } }, 400, 'skip.plans[1].mask_heads.0[0]');
  await bad({ skip: { policy: 'explicit', plan: { skip_layers: [5] } } }, 400, 'skip.plan.skip_layers[0]');
  await bad({ temperature: 5 }, 400, 'temperature');
  await bad({ skip: { select: 'heaviest' } }, 400, 'skip.select');
  await bad({ frobnicate: true }, 400, 'frobnicate');
  await bad({ min_p: 1.5 }, 400, 'min_p');
  await bad({ presence_penalty: 2.5 }, 400, 'presence_penalty');
  await bad({ frequency_penalty: -3 }, 400, 'frequency_penalty');
  await bad({ logit_bias: { 5: 101 } }, 400, 'logit_bias.5');
  await bad({ logit_bias: { abc: 1 } }, 400, 'logit_bias.abc');
  await bad({ logit_bias: { 99999: 1 } }, 400, 'logit_bias.99999');
  await bad({ logit_bias: { 5: 'x' } }, 400, 'logit_bias.5');
  await bad({ model: 'gpt-4' }, 404, 'model');
  await assert.rejects(
    client.chat.completions.create({ model: server.ctx.model.info.id, max_tokens: 4, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x/y.png' } }] }] }),
    (e: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(e.status, 400);
      assert.equal((e.error as { param: string | null }).param, 'messages[0].content');
      assert.match(e.message, /text parts.*no images/);
      return true;
    },
  );
  const raw = await fetch(`${server.http}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer test-key', 'content-type': 'application/json' }, body: '{"messages": [' });
  assert.equal(raw.status, 400);
  assert.equal(((await raw.json()) as { error: { code: string } }).error.code, 'invalid_json');
  const noKey = await fetch(`${server.http}/v1/models`);
  assert.equal(noKey.status, 401);
  assert.equal((await fetch(`${server.http}/health`)).status, 200, 'health needs no key');
});
