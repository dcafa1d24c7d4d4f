// The engine's optimisations, differentially and at random (test/helpers/differential.ts):
// greedy requests drawn by fast-check (short and near-the-context prompts, prompts sharing prefixes,
// stop strings and tokens, n, streaming, echo with logprobs, shared skip cores with head masks,
// several at once) get the same answer from a server with everything on (8-row batches, 16-token
// prefill chunks, a small prefix cache, speculation, the dense path, core graphs) as from the
// plainest server (at most 3 rows per step, whole prompts, no cache, no speculation, the switched graph
// only, no core graphs); and seeded sampled requests the same tokens, speculation aside.
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { startTestServer, type TestServer } from './helpers/start-server.ts';
import { assertAnswersAlike, fixedPrompt, nearContextPrompts, sharedPrefixPrompts, shortPrompts } from './helpers/differential.ts';

const CKPT = { layers: 4 };
const CONTEXT = 256;
const ON = { maxBatch: 8, prefillChunk: 16, prefixCacheMb: 0.25 };
let plainest: TestServer;
let full: TestServer;
let fullPlain: TestServer;
before(async () => {
  plainest = await startTestServer({ maxBatch: 3, prefillChunk: 512, prefixCacheMb: 0, speculativeConfig: 'off', densePath: false, coreGraphs: 0 }, CKPT);
  full = await startTestServer({ ...ON, speculativeConfig: JSON.stringify({ method: 'skip', draft: { skip_layers: [1, 2] }, num_speculative_tokens: 3 }) }, CKPT);
  fullPlain = await startTestServer({ ...ON, speculativeConfig: 'off' }, CKPT);
});
after(async () => {
  await plainest?.close();
  await full?.close();
  await fullPlain?.close();
});

const prompts = fc.oneof(shortPrompts, nearContextPrompts(CONTEXT), sharedPrefixPrompts([fixedPrompt(100, 29, 7)]));

test('random greedy requests: a server with every optimisation on answers every choice as the plainest server does', { timeout: 600_000 }, async () => {
  await assertAnswersAlike(plainest, full, { prompts, numRuns: 100, seed: 49 });
});

test('random seeded sampled requests (temperature, top_p, top_k): the same tokens with every optimisation but speculation on as on the plainest server', { timeout: 600_000 }, async () => {
  // Speculative sampling draws other tokens than plain sampling (the same distribution): api-speculative.test.ts.
  await assertAnswersAlike(plainest, fullPlain, { prompts, numRuns: 100, seed: 50, sampled: true });
});
