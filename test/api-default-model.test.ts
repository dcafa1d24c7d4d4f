// The embedded default model served like `npm start` does, through the openai client: its chat
// template renders "Q: … A:", greedy answers end in "The answer is N." and best-of-8 votes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import OpenAI from 'openai';
import { ServerConfigSchema } from '../src/config.ts';
import { startServer, type RunningServer } from '../src/api/server.ts';

// SKIPSERVE_TEST_DEFAULT_MODEL points the test at another export of the default model (e.g. a snapshot while it trains).
const dir = process.env.SKIPSERVE_TEST_DEFAULT_MODEL ?? 'models/default';
const present = existsSync(`${dir}/config.json`) && existsSync(`${dir}/tokenizer.json`);
const skip = present ? false : 'models/default is not committed yet';
let server: RunningServer | undefined;
let client: OpenAI;

before(async () => {
  if (!present) return;
  server = await startServer(ServerConfigSchema.parse({ model: dir, modelId: 'default', httpPort: 0, grpcPort: -1, logLevel: 'silent', store: 'off' }));
  client = new OpenAI({ baseURL: `http://127.0.0.1:${server.httpPort}/v1`, apiKey: 'none', maxRetries: 0 });
});
after(() => server?.close());

const questions = [
  { q: 'Ava has 199 rocks. She sells 76 rocks. How many rocks does Ava have now?', a: '123' },
  { q: 'Tom has 12 apples. He buys 7 more apples. How many apples does Tom have now?', a: '19' },
  { q: 'Mia has 40 beads. She gives away 15 beads. How many beads does Mia have now?', a: '25' },
];

test('default model: greedy chat answers with "The answer is N"', { skip }, async () => {
  assert.equal((await client.models.list()).data[0]!.id, 'default');
  let answered = 0;
  let correct = 0;
  for (const { q, a } of questions) {
    const r = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: q }], max_tokens: 96, temperature: 0 });
    const c = r.choices[0] as unknown as { message: { content: string }; answer: string | null; finish_reason: string };
    if (c.answer !== null) answered++;
    if (c.answer === a) correct++;
    console.log(`${q} -> ${JSON.stringify(c.message.content)} (answer ${c.answer}, expected ${a})`);
  }
  assert.ok(answered >= 2, `answers extracted for ${answered}/3`);
  console.log(`greedy: ${correct}/3 correct`);
});

test('default model: best-of-8 over distinct head masks votes an answer', { skip }, async () => {
  const r = (await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: questions[1]!.q }], max_tokens: 96, n: 8, temperature: 0.7, seed: 3, skip: { policy: 'random-heads', k: 1 } } as never)) as unknown as {
    choices: { answer: string | null; selected: boolean; skip_plan: unknown }[];
    skip: { selected_index: number; diversity: { unique_answers: number; majority_share: number } };
  };
  assert.equal(r.choices.length, 8);
  assert.equal(new Set(r.choices.map((c) => JSON.stringify(c.skip_plan))).size, 8);
  const answers = r.choices.map((c) => c.answer).filter((a): a is string => a !== null);
  assert.ok(answers.length > 0, 'some candidates give an answer');
  const counts = new Map<string, number>();
  for (const a of answers) counts.set(a, (counts.get(a) ?? 0) + 1);
  const top = Math.max(...counts.values());
  assert.equal(counts.get(r.choices[r.skip.selected_index]!.answer!), top, 'the selected candidate carries a most common answer');
  assert.equal(r.skip.diversity.majority_share, top / 8);
  console.log(`best-of-8 answers: ${r.choices.map((c) => c.answer).join(', ')}; selected ${r.choices[r.skip.selected_index]!.answer}`);
});

test('default model under mixed load: expert-profile joins the latency-budget core in flight (cores compared by measured accuracy), and answers alone on its own', { skip }, async () => {
  type Detail = { policy_detail: { core: string[]; sharedCore?: boolean; ownCore?: string[]; costVsOwn?: number; costMeasure?: string } };
  const ask = (policy: string, max: number) =>
    client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: questions[0]!.q }], max_tokens: max, n: 4, temperature: 0, ignore_eos: true, skip: { policy, target_speedup: 1.3 } } as never) as unknown as Promise<{ skip: Detail }>;
  const alone = (await ask('expert-profile', 8)).skip.policy_detail;
  assert.equal(alone.sharedCore, undefined, 'nothing in flight: its own core');
  let settled = false;
  const long = ask('latency-budget', 400).finally(() => (settled = true));
  // Until its rows are decoding (skipserve_running_rows), however slow the machine.
  const rows = async () => Number((await (await fetch(`http://127.0.0.1:${server!.httpPort}/metrics`)).text()).match(/^skipserve_running_rows (\S+)$/m)?.[1] ?? 0);
  while (!settled && (await rows()) < 4) await new Promise((r) => setTimeout(r, 5));
  const beside = (await ask('expert-profile', 8)).skip.policy_detail;
  const lb = (await long).skip.policy_detail;
  assert.equal(beside.sharedCore, true, JSON.stringify(beside));
  assert.deepEqual([...beside.core].sort(), [...lb.core].sort(), 'the latency-budget core');
  assert.deepEqual(beside.ownCore, alone.core);
  assert.equal(beside.costMeasure, 'accuracy');
  assert.ok(beside.costVsOwn! <= 1.25, `costs at most the tolerance more: ${beside.costVsOwn}`);
});
