// Cancels beside generation, differentially (test/helpers/differential.ts): while random greedy and
// seeded sampled requests run on a server with every optimisation on (8-row batches, 16-token prefill
// chunks, a small prefix cache, speculation for the greedy ones, the dense path, core graphs), other
// clients start streamed requests (several candidates, long answers, prompts sharing a prefix with
// the drawn ones) and go away after a few events, so rows leave the batch mid-request and new
// requests take their places; every answer must come back as the plainest server, with no such
// traffic, gives it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startTestServer, waitFor, type TestServer } from './helpers/start-server.ts';
import { assertAnswersAlike, fixedPrompt, nearContextPrompts, sharedPrefixPrompts, shortPrompts } from './helpers/differential.ts';

const CKPT = { layers: 4 };
const CONTEXT = 256;
const ON = { maxBatch: 8, prefillChunk: 16, prefixCacheMb: 0.25 };
const SHARED = fixedPrompt(100, 29, 7);
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

test('random greedy and seeded sampled requests beside clients that go away mid-stream: the same answers as without them', { timeout: 600_000 }, async () => {
  let draw = 0;
  let abandoned = 0;
  /** One or two streamed requests of 1-3 candidates on `busy` (prompts sharing the drawn ones' prefix), each abandoned after 1-6 events. */
  const beside = (busy: TestServer) => async () => {
    const k = draw++;
    await Promise.all(
      Array.from({ length: 1 + (k % 2) }, async (_, j) => {
        const abort = new AbortController();
        const body = { prompt: SHARED.slice(0, 5 + ((k * 7 + j) % 60)), max_tokens: 200, ignore_eos: true, stream: true, n: 1 + ((k + j) % 3), temperature: (k + j) % 2 };
        try {
          const res = await fetch(`${busy.http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: abort.signal });
          const reader = res.body!.getReader();
          for (let events = 0; events < 1 + ((k + 3 * j) % 6); events++) if ((await reader.read()).done) break;
          abort.abort();
          abandoned++;
        } catch (err) {
          if ((err as Error).name !== 'AbortError') throw err;
        }
      }),
    );
  };
  const prompts = fc.oneof(shortPrompts, nearContextPrompts(CONTEXT), sharedPrefixPrompts([SHARED]));
  // Greedy on the speculating server with every optimisation on; seeded sampled on the same without speculation (which draws other tokens by design).
  const greedy = await assertAnswersAlike(plainest, full, { prompts, numRuns: 40, seed: 50, beside: beside(full) });
  const sampled = await assertAnswersAlike(plainest, fullPlain, { prompts, numRuns: 30, seed: 51, sampled: true, beside: beside(fullPlain) });
  assert.ok(abandoned > 0 && greedy.compared > 0 && sampled.compared > 0);
  // The abandoned requests left nothing behind.
  for (const s of [full, fullPlain]) await waitFor(() => s.ctx.model.engine.runningRows() === 0, 5000, 'rows freed');
});
