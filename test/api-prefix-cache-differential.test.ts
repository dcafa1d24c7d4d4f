// The prefix cache, differentially and at random (test/helpers/differential.ts): greedy
// requests whose prompts share prefixes of three long prompts (cut anywhere, a few tokens added),
// drawn by fast-check with stop strings and tokens, n, streaming, echo with log-probabilities (the
// prompt's own, cached or not), shared skip cores with head masks (the cache is per core) and
// several at once, get the same answer from a server with the cache (a small one, 0.25 MB: about
// 500 tokens of this model, so entries are evicted too) as from one without it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startTestServer, type TestServer } from './helpers/start-server.ts';
import { assertAnswersAlike } from './helpers/differential.ts';

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
  const bases = [60, 130, 200].map((len, b) => Array.from({ length: len }, (_, i) => 3 + 32 + ((i * (17 + 6 * b) + 11 * b) % 90)));
  const prompts = fc
    .record({ base: fc.integer({ min: 0, max: bases.length - 1 }), cut: fc.nat(), tail: fc.array(fc.integer({ min: 3 + 32, max: 3 + 126 }), { maxLength: 6 }) })
    .map(({ base, cut, tail }) => [...bases[base]!.slice(0, 1 + (cut % bases[base]!.length)), ...tail]);
  const { cachedTokens } = await assertAnswersAlike(uncached, cached, { prompts, numRuns: 100, seed: 48 });
  assert.ok(cachedTokens > 0, 'the cache served some prompts');
});
