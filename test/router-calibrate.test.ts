import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildCatalog } from '../router/catalog.ts';
import { aggregateRecords, measureLatencyBudgetPath } from '../router/calibration-aggregate.ts';
import { calibratePrompts, decodeEmbedding, type CalibrateConfig } from '../router/calibrate.ts';
import { generateJobs } from '../router/generate.ts';
import { generatedProblems, promptIds, referenceIds } from '../router/problems.ts';
import { teacherForcedScores } from '../router/teacher-forced.ts';
import { loadRunner } from '../src/model/runner.ts';
import type { ModelRunner } from '../src/model/runner-types.ts';
import { FULL_PLAN, type SkipPlan } from '../src/plans/plan.ts';
import { TextTokenizer } from '../src/text/tokenizer.ts';
import { makeCheckpoint } from './helpers/make-checkpoint.ts';

let dir: string;
let runner: ModelRunner;
let tok: TextTokenizer;

before(async () => {
  dir = makeCheckpoint({ layers: 3, heads: 4, kvHeads: 2, hidden: 32, maxPositions: 512, seed: 5 });
  runner = await loadRunner({ modelDir: dir, threads: 1 });
  tok = TextTokenizer.load(dir);
});
after(async () => {
  await runner.close();
});

const cfg: CalibrateConfig = { seed: 3, samplesPerPlan: 1, fullSamples: 2, temperature: 0.8, topP: 1, maxTokens: 6, importancePrompts: 2 };

test('teacher-forced KL is zero for the full model and positive for a skipped sublayer', async () => {
  const [p] = generatedProblems('train', 1, 1);
  const ids = promptIds(tok, p!);
  const ref = referenceIds(tok, p!, runner.info.eosTokenIds[0])!;
  const r = await teacherForcedScores(runner, [...ids, ...ref], ids.length, [FULL_PLAN, { skipAttention: [], skipMlp: [1], maskHeads: {} }, { skipAttention: [], skipMlp: [], maskHeads: { 2: [1] } }], { maxRows: 2 });
  assert.ok(r.plans[0]!.kl < 1e-6, `full vs full: ${r.plans[0]!.kl}`);
  assert.ok(Math.abs(r.plans[0]!.logprob - r.base.logprob) < 1e-5);
  assert.ok(r.plans[1]!.kl > 1e-4);
  assert.ok(r.plans[2]!.kl > 0);
  assert.ok(r.base.logprob < 0);
});

test('sampled candidates are seeded and a batch of jobs equals the jobs run alone', async () => {
  const probs = generatedProblems('test', 2, 2);
  const jobs = probs.map((p, i) => ({
    promptIds: promptIds(tok, p),
    core: { skipAttention: [2], skipMlp: [], maskHeads: {} } as SkipPlan,
    plans: <SkipPlan[]>[{ skipAttention: [2], skipMlp: [], maskHeads: { 0: [1] } }, { skipAttention: [2], skipMlp: [0], maskHeads: {} }, { skipAttention: [2], skipMlp: [], maskHeads: {} }],
    seed: 100 + i * 10,
  }));
  const opts = { sampling: { temperature: 1, topP: 1, topK: 0 }, maxTokens: 8 };
  const together = await generateJobs(runner, tok, jobs, opts);
  const again = await generateJobs(runner, tok, jobs, opts);
  assert.deepEqual(again.map((c) => c.map((x) => x.tokens)), together.map((c) => c.map((x) => x.tokens)));
  const alone = [await generateJobs(runner, tok, [jobs[0]!], opts), await generateJobs(runner, tok, [jobs[1]!], opts)].map((r) => r[0]!);
  assert.deepEqual(alone.map((c) => c.map((x) => x.tokens)), together.map((c) => c.map((x) => x.tokens)));
  assert.ok(together.every((c) => c.length === 3 && c.every((x) => x.tokens.length <= 8)));
  const reseeded = await generateJobs(runner, tok, jobs.map((j) => ({ ...j, seed: j.seed + 1 })), opts);
  assert.notDeepEqual(reseeded.map((c) => c.map((x) => x.tokens)), together.map((c) => c.map((x) => x.tokens)));
});

test('calibration records every prompt, resumes without redoing work, and aggregates', async () => {
  const prompts = generatedProblems('train', 4, 3);
  const catalog = buildCatalog(3, 4, { seed: 1, crossPairs: 2 });
  const path = join(dir, 'router', 'calibration-records.jsonl');
  let calls = 0;
  const recs = await calibratePrompts(runner, tok, catalog, prompts, cfg, path, { onPrompt: () => calls++ });
  assert.equal(calls, 3);
  assert.equal(recs.length, 3);
  assert.equal(decodeEmbedding(recs[0]!.embedding).length, runner.info.hiddenSize);
  assert.equal(recs.filter((r) => r.tf !== null).length, 2, 'importance on the first 2 prompts only');
  assert.equal(recs[0]!.tf!.heads.length, 3);
  assert.equal(recs[0]!.tf!.planLogprob.length, catalog.entries.length);
  assert.ok(recs.every((r) => r.correct!.length === catalog.entries.length && r.fullCorrect !== null));
  // Resume: the three are read back, only the new fourth prompt runs.
  calls = 0;
  const more = await calibratePrompts(runner, tok, catalog, generatedProblems('train', 4, 4), cfg, path, { onPrompt: () => calls++ });
  assert.equal(calls, 1);
  assert.deepEqual(more.slice(0, 3), recs);
  assert.equal(readFileSync(path, 'utf8').trim().split('\n').length, 1 + 4);
  await assert.rejects(calibratePrompts(runner, tok, catalog, prompts, { ...cfg, seed: 4 }, path), /other settings/);
  const agg = aggregateRecords(more, catalog, cfg, runner.info, 1);
  assert.equal(agg.importance.heads.length, 3);
  assert.equal(agg.importance.heads[0]!.length, 4);
  assert.ok(agg.importance.mlp.every((x) => x > 0));
  assert.deepEqual(Object.keys(agg.domains).sort(), [...new Set(more.map((r) => r.kind!))].sort());
  for (const d of Object.values(agg.domains)) assert.equal(d.centroid.length, runner.info.hiddenSize);
  assert.equal(agg.plans.length, catalog.entries.length);
});

test('the latency-budget path re-scores the remaining sublayers after each pick', async () => {
  const prompts = generatedProblems('train', 5, 2);
  const table = { denseMs: 10, attentionMs: [1, 1, 1], mlpMs: [1, 1, 1] };
  const path = await measureLatencyBudgetPath(runner, tok, prompts, table, { batch: 8, context: 128 }, 1.5);
  assert.ok(path.picks.length >= 3);
  assert.ok(path.picks[path.picks.length - 1]!.speedupAfter >= 1.5);
  assert.equal(path.steps.length, path.picks.length);
  for (const [i, step] of path.steps.entries()) {
    assert.equal(step.core.length, i);
    assert.equal(Object.keys(step.importance).length, 6 - i);
  }
  // A sublayer's importance on top of a core differs from its importance alone (re-scored, not reused).
  const second = path.steps[1]!;
  const key = Object.keys(second.importance)[0]!;
  assert.notEqual(second.importance[key], path.steps[0]!.importance[key]);
});

test('calibration is reproducible from its seed', async () => {
  const prompts = generatedProblems('train', 6, 2);
  const catalog = buildCatalog(3, 4, { seed: 2, crossPairs: 1 });
  const strip = (rs: { seconds: number }[]) => rs.map((r) => ({ ...r, seconds: 0 }));
  const a = await calibratePrompts(runner, tok, catalog, prompts, cfg, join(dir, 'router', 'repro-a.jsonl'));
  const b = await calibratePrompts(runner, tok, catalog, prompts, cfg, join(dir, 'router', 'repro-b.jsonl'));
  assert.deepEqual(strip(b), strip(a));
});
