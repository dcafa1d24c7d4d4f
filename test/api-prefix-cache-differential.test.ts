// The prefix cache, differentially and at random (test/helpers/differential.ts): greedy
// requests whose prompts share prefixes of three long prompts (cut anywhere, a few tokens added),
// drawn by fast-check with stop strings and tokens, n, streaming, echo with log-probabilities (the
// prompt's own, cached or not), shared skip cores with head masks (the cache is per core) and
// several at once, get the same answer from a server with the cache (a small one, 0.25 MB: about
// 500 tokens of this model, so entries are evicted too) as from one without it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from './helpers/start-server.ts';
import { assertAnswersAlike, fixedPrompt, sharedPrefixPrompts } from './helpers/differential.ts';

const CKPT = { layers: 4 };
let uncached: TestServer;
let cached: TestServer;
before(async () => {
  uncached = await startTestServer({ speculativeConfig: 'off', prefixCacheMb: 0 }, CKPT);
  cached = await startTestServer({ speculativeConfig: 'off', prefixCacheMb: 0.25 }, CKPT);
});
after(async () => {
  await uncached?.close();
  await cached?.close();
});

test('random greedy requests over shared prefixes: a server with the prefix cache answers every choice as one without it', { timeout: 600_000 }, async () => {
  const prompts = sharedPrefixPrompts([60, 130, 200].map((len, b) => fixedPrompt(len, 17 + 6 * b, 11 * b)));
  const { cachedTokens } = await assertAnswersAlike(uncached, cached, { prompts, numRuns: 100, seed: 48 });
  assert.ok(cachedTokens > 0, 'the cache served some prompts');
});
