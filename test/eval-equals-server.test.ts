/**
 * One generation path: `skipserve eval` (its in-process engine) reports exactly the candidates,
 * answers and vote that the HTTP server returns for the same requests (same problems, seeds,
 * sampling and policy), through the unmodified `openai` client.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { startServer, type RunningServer } from '../src/api/server.ts';
import { ServerConfigSchema } from '../src/config.ts';
import { openLocalEngine, type LocalEngine } from '../src/engine/local-engine.ts';
import { generateSplit } from '../models/train/generator/split.ts';
import { problemRequest, runProblems, type RequestSetting } from '../models/train/eval/run-requests.ts';
import { scoreResult } from '../models/train/eval/scoring.ts';

const MODEL = 'models/default';
const problems = [...generateSplit({ split: 'test', seed: 4, count: 4, tier: 'standard' })];
let server: RunningServer;
let local: LocalEngine;
let client: OpenAI;

before(async () => {
  server = await startServer(ServerConfigSchema.parse({ model: MODEL, modelId: 'default', httpPort: 0, grpcPort: -1, logLevel: 'silent', maxBatch: 8, store: 'off' }));
  client = new OpenAI({ baseURL: `http://127.0.0.1:${server.httpPort}/v1`, apiKey: 'unused' });
  local = await openLocalEngine({ modelDir: MODEL, maxBatch: 8, maxQueue: 100, measureSpeedup: false });
});
after(async () => {
  await local?.close();
  await server?.close();
});

for (const setting of [
  { n: 4, temperature: 0.8, maxTokens: 64, skip: { policy: 'none' } },
  { n: 4, temperature: 0, maxTokens: 64, skip: { policy: 'random-heads', k: 2 } },
] satisfies RequestSetting[]) {
  test(`eval equals the server: n=${setting.n}, T=${setting.temperature}, ${setting.skip.policy}`, async () => {
    const evalRuns = await runProblems(local, problems, 9, setting);
    for (const [i, p] of problems.entries()) {
      const spec = problemRequest(p, i, 9, setting);
      const body = {
        model: 'default',
        messages: [{ role: 'user' as const, content: p.question }],
        n: spec.n,
        temperature: spec.temperature,
        max_tokens: spec.maxTokens,
        seed: spec.seed,
        skip: { ...setting.skip, reference_answer: String(p.answer) },
      };
      type Choice = OpenAI.ChatCompletion.Choice & { answer: string | null };
      const r = (await client.chat.completions.create(body as OpenAI.ChatCompletionCreateParamsNonStreaming)) as unknown as { choices: Choice[]; skip: { selected_index: number | null; matched_reference: boolean } };
      const e = evalRuns[i]!;
      assert.deepEqual(r.choices.map((c) => c.message.content), e.candidates.map((c) => c.text), `texts of problem ${i}`);
      assert.deepEqual(r.choices.map((c) => c.answer), e.candidates.map((c) => c.answer), `answers of problem ${i}`);
      assert.equal(r.skip.selected_index, e.selectedIndex, `vote of problem ${i}`);
      assert.equal(r.skip.matched_reference, scoreResult(p, e).voted === String(p.answer));
    }
  });
}
