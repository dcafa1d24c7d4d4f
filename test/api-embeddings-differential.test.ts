// Embeddings beside generation, differentially (test/helpers/differential.ts): random greedy and
// seeded sampled requests answered while an embeddings request runs beside them on the same server
// (its prefills taking turns with the decode steps, in chunks of 16 tokens) come back as a server
// with no embeddings traffic answers them, and every vector comes back as its input embeds alone.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import OpenAI from 'openai';
import { startTestServer, type TestServer } from './helpers/start-server.ts';
import { assertAnswersAlike, fixedPrompt, shortPrompts } from './helpers/differential.ts';

const CKPT = { layers: 4 };
let plain: TestServer;
let busy: TestServer;
before(async () => {
  plain = await startTestServer({}, CKPT);
  busy = await startTestServer({}, CKPT);
});
after(async () => {
  await plain?.close();
  await busy?.close();
});

test('random greedy and seeded sampled requests with embeddings beside them: the same answers as without, and each vector as its input embeds alone', { timeout: 600_000 }, async () => {
  const embed = (s: TestServer, input: number[][]) => new OpenAI({ baseURL: `${s.http}/v1`, apiKey: 'unused', maxRetries: 0 }).embeddings.create({ model: s.ctx.model.info.id, input });
  // Inputs of 1 to 70 tokens (up to five prefill chunks), each embedded alone on the quiet server first.
  const inputs = [1, 5, 16, 17, 33, 70, 48, 9].map((len, i) => fixedPrompt(len, 29, i * 7));
  const alone = await Promise.all(inputs.map(async (x) => (await embed(plain, [x])).data[0]!.embedding));
  let draw = 0;
  const beside = async () => {
    const picked = [0, 1, 2].map((k) => (draw * 3 + k * 5) % inputs.length);
    draw++;
    const r = await embed(busy, picked.map((i) => inputs[i]!));
    r.data.forEach((d, k) => {
      const want = alone[picked[k]!]!;
      assert.ok(d.embedding.every((v, j) => Math.abs(v - want[j]!) < 1e-5), `input ${picked[k]} (${inputs[picked[k]!]!.length} tokens) embeds as it does alone`);
    });
  };
  const prompts = fc.oneof(shortPrompts, fc.constantFrom(fixedPrompt(40), fixedPrompt(90, 13)));
  const greedy = await assertAnswersAlike(plain, busy, { prompts, numRuns: 40, seed: 48, beside });
  // Seeded sampled requests draw the same tokens too: nothing of an embedding reaches a candidate's random stream.
  const sampled = await assertAnswersAlike(plain, busy, { prompts, numRuns: 30, seed: 49, sampled: true, beside });
  assert.ok(draw > 0 && greedy.compared > 0 && sampled.compared > 0);
});
