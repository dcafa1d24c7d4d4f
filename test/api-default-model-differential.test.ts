// The default model's policies, differentially and at random (test/helpers/differential.ts): greedy
// requests over arithmetic questions, most of them naming a policy whose plans do not depend on the
// machine (learned: the selector's plans for the prompt; ensemble; head-importance; random-heads and
// sub-networks from the request's seed), get the same answer from a server with every optimisation
// on (the model's own speculative.json, 16-token prefill chunks, the prefix cache, the dense path,
// core graphs) as from the plainest server (no speculation, no cache, whole prompts, the switched
// graph only, no core graphs). Latency-budget cores are left out: the core check times them on
// this machine, so two servers may choose two cores.
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { startTestServer, type TestServer } from './helpers/start-server.ts';
import { assertAnswersAlike } from './helpers/differential.ts';

const MODEL = 'models/default';
let plainest: TestServer;
let full: TestServer;
before(async () => {
  plainest = await startTestServer({ model: MODEL, maxBatch: 3, prefillChunk: 512, prefixCacheMb: 0, speculativeConfig: 'off', densePath: false, coreGraphs: 0 });
  full = await startTestServer({ model: MODEL, maxBatch: 8, prefillChunk: 16 });
});
after(async () => {
  await plainest?.close();
  await full?.close();
});

test('random questions to the default model, most under a policy: a server with every optimisation on answers as the plainest server', { timeout: 600_000 }, async () => {
  const tok = plainest.ctx.model.tokenizer;
  const questions = fc
    .record({ a: fc.integer({ min: 1, max: 999 }), b: fc.integer({ min: 1, max: 99 }), kind: fc.constantFrom('buys', 'loses', 'gives away'), who: fc.constantFrom('Tom', 'Sara', 'Ali') })
    .map(({ a, b, kind, who }) => tok.encode(`Q: ${who} has ${a} marbles. ${who} ${kind} ${b}. How many marbles does ${who} have now?\nA:`, false));
  const seeded = <T extends Record<string, unknown>>(skip: fc.Arbitrary<T>) => fc.tuple(skip, fc.nat({ max: 1000 })).map(([s, seed]) => ({ ...s, seed }));
  const policies = fc.oneof(
    seeded(fc.constant({ policy: 'learned' })),
    seeded(fc.constant({ policy: 'ensemble' })),
    seeded(fc.record({ policy: fc.constant('head-importance'), k: fc.integer({ min: 1, max: 4 }) })),
    seeded(fc.record({ policy: fc.constant('random-heads'), k: fc.integer({ min: 1, max: 3 }) })),
    seeded(fc.record({ policy: fc.constant('sub-networks'), core_fraction: fc.constantFrom(0.1, 0.3) })),
  );
  await assertAnswersAlike(plainest, full, { prompts: questions, numRuns: 40, seed: 54, policies, policyShare: 0.7 });
});
