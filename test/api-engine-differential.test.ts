// The engine's optimisations, differentially and at random (test/helpers/differential.ts):
// greedy requests drawn by fast-check (short and near-the-context prompts, prompts sharing prefixes,
// stop strings and tokens, n, streaming, echo with logprobs, shared skip cores with head masks,
// several at once) get the same answer from a server with everything on (8-row batches, 16-token
// prefill chunks, a small prefix cache, speculation, the dense path, core graphs) as from the
// plainest server (at most 3 rows per step, whole prompts, no cache, no speculation, the switched graph
// only, no core graphs); and seeded sampled requests the same tokens, speculation aside.
import { test } from 'node:test';
import fc from 'fast-check';
import { assertAnswersAlike, engineServers, fixedPrompt, nearContextPrompts, sharedPrefixPrompts, shortPrompts } from './helpers/differential.ts';

const CONTEXT = 256;
const servers = engineServers();

const prompts = fc.oneof(shortPrompts, nearContextPrompts(CONTEXT), sharedPrefixPrompts([fixedPrompt(100, 29, 7)]));

test('random greedy requests: a server with every optimisation on answers every choice as the plainest server does', { timeout: 600_000 }, async () => {
  await assertAnswersAlike(servers.plainest, servers.full, { prompts, numRuns: 100, seed: 49 });
});

test('random seeded sampled requests (temperature, top_p, top_k): the same tokens with every optimisation but speculation on as on the plainest server', { timeout: 600_000 }, async () => {
  // Speculative sampling draws other tokens than plain sampling (the same distribution): api-speculative.test.ts.
  await assertAnswersAlike(servers.plainest, servers.fullPlain, { prompts, numRuns: 100, seed: 50, sampled: true });
});
