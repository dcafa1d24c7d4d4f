// Completions `echo` through the unmodified openai client: the prompt comes back before each
// completion, and with `logprobs` the prompt's own log-probabilities (null for the first token),
// which are checked against the float64 reference forward pass, across chunked-prefill boundaries
// (the test server feeds 16 prompt tokens per step). `max_tokens: 0` with echo scores the prompt and
// generates nothing (what lm-evaluation-harness's loglikelihood requests send); a generated
// completion, echoed back as a prompt, is scored as it was generated. Streamed, each choice's first
// chunk starts with the prompt (and its logprobs), and the chunks add up to the unstreamed response.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { ReferenceModel } from '../src/model/reference.ts';
import { FULL_PLAN } from '../src/plans/plan.ts';
import { startTestServer, testCheckpoint, type TestServer } from './helpers/start-server.ts';
import { logSoftmax } from './helpers/log-softmax.ts';

let server: TestServer;
let client: OpenAI;
before(async () => {
  server = await startTestServer();
  client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  await server?.close();
});

type TextLogprobs = { tokens: string[]; token_logprobs: (number | null)[]; top_logprobs: (Record<string, number> | null)[]; text_offset: number[] };

test('echo with logprobs: the prompt, then the completion; prompt logprobs match the float64 reference across prefill chunks', async () => {
  const ids = Array.from({ length: 40 }, (_, i) => 3 + ((i * 37 + 11) % 200)); // 40 tokens: three prefill chunks of 16
  const r = await client.completions.create({ model: server.ctx.model.info.id, prompt: ids, max_tokens: 3, temperature: 0, echo: true, logprobs: 2 });
  const c = r.choices[0]!;
  const lp = c.logprobs as unknown as TextLogprobs;
  assert.equal(r.usage!.prompt_tokens, 40);
  assert.equal(lp.tokens.length, 40 + r.usage!.completion_tokens);
  assert.equal(lp.token_logprobs[0], null, 'the first token has no logprob');
  assert.equal(lp.top_logprobs[0], null);
  const promptText = server.ctx.model.tokenizer.decode(ids);
  assert.ok(c.text.startsWith(promptText), 'the prompt is echoed before the completion');
  assert.equal(c.text.length > promptText.length, true);
  const ref = new ReferenceModel(openCheckpoint(testCheckpoint())).forward(ids, FULL_PLAN);
  for (let j = 1; j < 40; j++) {
    const want = logSoftmax(ref[j - 1]!)[ids[j]!]!;
    assert.ok(Math.abs(lp.token_logprobs[j]! - want) < 1e-4, `prompt token ${j}: ${lp.token_logprobs[j]} vs reference ${want}`);
    assert.ok(Object.keys(lp.top_logprobs[j]!).length <= 2 && Object.keys(lp.top_logprobs[j]!).length >= 1);
  }
  assert.deepEqual(lp.text_offset.slice(0, 3), [0, lp.tokens[0]!.length, lp.tokens[0]!.length + lp.tokens[1]!.length]);
});

test('a generated completion, echoed back as the prompt, is scored as it was generated', async () => {
  const prompt = [[3 + 72, 3 + 105, 3 + 33, 3 + 32]];
  const gen = await client.completions.create({ model: server.ctx.model.info.id, prompt, max_tokens: 20, temperature: 0, logprobs: 0, ignore_eos: true } as never);
  const genLp = gen.choices[0]!.logprobs as unknown as TextLogprobs;
  const genIds = (await (await fetch(`${server.http}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: gen.choices[0]!.text, add_special_tokens: false }) })).json()) as { tokens: number[] };
  assert.equal(genIds.tokens.length, 20, 'one token per byte in the test tokenizer');
  const all = [...prompt[0]!, ...genIds.tokens];
  const echo = await client.completions.create({ model: server.ctx.model.info.id, prompt: [all], max_tokens: 0, echo: true, logprobs: 0 } as never);
  const c = echo.choices[0]!;
  const lp = c.logprobs as unknown as TextLogprobs;
  assert.equal(echo.usage!.completion_tokens, 0);
  assert.equal(c.finish_reason, 'length');
  assert.equal(lp.tokens.length, all.length, 'max_tokens 0: the prompt only');
  for (let j = 0; j < 20; j++) {
    const scored = lp.token_logprobs[prompt[0]!.length + j]!;
    assert.ok(Math.abs(scored - genLp.token_logprobs[j]!) < 1e-4, `token ${j}: echoed ${scored} vs generated ${genLp.token_logprobs[j]}`);
  }
});

test('echo without logprobs, n > 1; errors name the field', async () => {
  const r = await client.completions.create({ model: server.ctx.model.info.id, prompt: 'Q: 1+1? A:', max_tokens: 2, n: 2, seed: 4, temperature: 1, echo: true });
  for (const c of r.choices) {
    assert.ok(c.text.startsWith('Q: 1+1? A:'));
    assert.equal(c.logprobs, null);
  }
  const bad = async (body: Record<string, unknown>, param: string) =>
    assert.rejects(client.completions.create({ model: server.ctx.model.info.id, prompt: 'hi', ...body } as never), (e: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(e.status, 400);
      assert.equal((e.error as { param: string }).param, param);
      return true;
    });
  await bad({ max_tokens: 0 }, 'max_tokens');
  await bad({ echo: 'yes', max_tokens: 2 }, 'echo');
  await bad({ echo: true, max_tokens: -1 }, 'max_tokens');
  await bad({ prompt: [[5, 99999]], max_tokens: 1 }, 'prompt[0][1]');
});

test('echo with stream: each choice starts with the prompt and its logprobs; the chunks add up to the unstreamed response', async () => {
  const ids = Array.from({ length: 20 }, (_, i) => 3 + ((i * 53 + 7) % 200)); // two prefill chunks
  const body = { model: server.ctx.model.info.id, prompt: [ids], max_tokens: 4, n: 2, seed: 9, temperature: 1, echo: true, logprobs: 1, ignore_eos: true } as const;
  const whole = await client.completions.create(body as never);
  const stream = await client.completions.create({ ...body, stream: true } as never);
  const text = ['', ''];
  const lps: TextLogprobs[] = [
    { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] },
    { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] },
  ];
  const firsts: string[] = [];
  for await (const chunk of stream as unknown as AsyncIterable<OpenAI.Completion>) {
    for (const c of chunk.choices) {
      if (text[c.index] === '') firsts.push(c.text);
      text[c.index] += c.text;
      const lp = c.logprobs as unknown as TextLogprobs | null;
      if (lp) {
        lps[c.index]!.tokens.push(...lp.tokens);
        lps[c.index]!.token_logprobs.push(...lp.token_logprobs);
        lps[c.index]!.text_offset.push(...lp.text_offset);
      }
    }
  }
  const promptText = server.ctx.model.tokenizer.decode(ids);
  for (const f of firsts) assert.ok(f.startsWith(promptText), 'a choice\'s first chunk starts with the prompt');
  for (const c of whole.choices) {
    assert.equal(text[c.index], c.text, `choice ${c.index}: streamed text`);
    const want = c.logprobs as unknown as TextLogprobs;
    assert.deepEqual(lps[c.index]!.tokens, want.tokens, `choice ${c.index}: streamed tokens`);
    assert.deepEqual(lps[c.index]!.text_offset, want.text_offset, `choice ${c.index}: text_offset counts from the start of the choice's text`);
    assert.equal(lps[c.index]!.token_logprobs[0], null, 'the first prompt token has no logprob');
    lps[c.index]!.token_logprobs.forEach((x, j) => assert.ok(x === want.token_logprobs[j] || Math.abs(x! - want.token_logprobs[j]!) < 1e-5, `choice ${c.index} token ${j}`));
  }
  // A batch of prompts: each choice starts with its own prompt.
  const batch = await client.completions.create({ ...body, prompt: ['Q: 1+1? A:', 'Q: 2+2? A:'], logprobs: null, stream: true } as never);
  const heads = new Map<number, string>();
  for await (const chunk of batch as unknown as AsyncIterable<OpenAI.Completion>) for (const c of chunk.choices) if (!heads.has(c.index)) heads.set(c.index, c.text);
  assert.deepEqual([...heads.keys()].sort(), [0, 1, 2, 3]);
  for (const [i, t] of heads) assert.ok(t.startsWith(i < 2 ? 'Q: 1+1? A:' : 'Q: 2+2? A:'), `choice ${i}: ${JSON.stringify(t)}`);
  // max_tokens 0: one chunk per choice, the prompt only.
  const only = await client.completions.create({ ...body, max_tokens: 0, n: 1, stream: true } as never);
  const got: string[] = [];
  for await (const chunk of only as unknown as AsyncIterable<OpenAI.Completion>) for (const c of chunk.choices) got.push(c.text);
  assert.deepEqual(got, [promptText]);
});
