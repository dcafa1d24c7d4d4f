// Speculative decoding, differentially and at random (test/helpers/differential.ts): greedy
// requests drawn by fast-check (prompts of 1-8 tokens or within 40 of the context's end, stop
// strings and tokens, n, streaming, echo, logprobs, shared skip cores with head masks, several at
// once) get the same answer from a server that speculates as from one that does not.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { metricValue, startTestServer, type TestServer } from './helpers/start-server.ts';
import { assertAnswersAlike, nearContextPrompts, shortPrompts } from './helpers/differential.ts';

const CKPT = { layers: 4 };
const SPEC = JSON.stringify({ method: 'skip', draft: { skip_layers: [1, 2] }, num_speculative_tokens: 4 });
const CONTEXT = 256;
let plain: TestServer;
let spec: TestServer;
before(async () => {
  plain = await startTestServer({ speculativeConfig: 'off' }, CKPT);
  spec = await startTestServer({ speculativeConfig: SPEC }, CKPT);
});
after(async () => {
  await plain?.close();
  await spec?.close();
});

test('random greedy requests: a speculating server answers every choice as the plain server does (text, finish, log-probabilities, usage)', { timeout: 600_000 }, async () => {
  // Long prompts end near the context: a cycle (and the speedup meter's probes) must stop at its end.
  const cycles = async () => metricValue(await (await fetch(`${spec.http}/metrics`)).text(), 'skipserve_spec_decode_cycles_total') ?? 0;
  const before = await cycles();
  await assertAnswersAlike(plain, spec, { prompts: fc.oneof(shortPrompts, nearContextPrompts(CONTEXT)), numRuns: 100, seed: 47 });
  assert.ok((await cycles()) > before, 'the requests speculated');
});
