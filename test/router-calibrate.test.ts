import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildCatalog } from '../router/catalog-build.ts';
import { aggregateRecords, measureLatencyBudgetPath } from '../router/calibration-aggregate.ts';
import { calibratePrompts, decodeEmbedding, type CalibrateConfig } from '../router/calibrate.ts';
import { disjointOrder, greedyAnswers, pairedAnswers, sampleAnswers } from '../router/plan-answers.ts';
import { followsGreedyPath } from '../router/greedy-check.ts';
import { informativeCount } from '../router/calibration-aggregate.ts';
import { planKey, skipCore } from '../src/plans/plan.ts';
import { generatedProblems, promptIds, promptSpec, referenceIds } from '../router/problems.ts';
import { entryPlan } from '../src/router/catalog.ts';
import { teacherForcedScores } from '../router/teacher-forced.ts';
import { openLocalEngine, type LocalEngine } from '../src/engine/local-engine.ts';
import { FULL_PLAN, planToWire, type SkipPlan } from '../src/plans/plan.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';

let dir: string;
let local: LocalEngine;

before(async () => {
  dir = makeCheckpoint({ layers: 3, heads: 4, kvHeads: 2, hidden: 32, maxPositions: 512, seed: 5 });
  local = await openLocalEngine({ modelDir: dir, threads: 1, maxBatch: 8, maxQueue: 1000, measureSpeedup: false });
});
after(async () => {
  await local.close();
});

const cfg: CalibrateConfig = { seed: 3, samplesPerPlan: 1, fullSamples: 2, temperature: 0.8, topP: 1, maxTokens: 6, importancePrompts: 2 };

test('teacher-forced KL is zero for the full model and positive for a skipped sublayer', async () => {
  const [p] = generatedProblems('train', 1, 1);
  const ids = promptIds(local, p!);
  const ref = referenceIds(local.tokenizer, p!, local.info.eosTokenIds[0])!;
  const r = await teacherForcedScores(local.runner, [...ids, ...ref], ids.length, [FULL_PLAN, { skipAttention: [], skipMlp: [1], maskHeads: {} }, { skipAttention: [], skipMlp: [], maskHeads: { 2: [1] } }], { maxRows: 2 });
  assert.ok(r.plans[0]!.kl < 1e-6, `full vs full: ${r.plans[0]!.kl}`);
  assert.ok(Math.abs(r.plans[0]!.logprob - r.base.logprob) < 1e-5);
  assert.ok(r.plans[1]!.kl > 1e-4);
  assert.ok(r.plans[2]!.kl > 0);
  assert.ok(r.base.logprob < 0);
});

test('calibration samples through the engine: seeded, one answer per plan, in plan order, batched equals alone', async () => {
  const [p] = generatedProblems('test', 2, 1);
  const plans: SkipPlan[] = Array.from({ length: 11 }, (_, i) => ({ skipAttention: [2], skipMlp: i % 3 === 0 ? [0] : [], maskHeads: { 0: [i % 4] } }));
  const c = { temperature: 1, topP: 1, maxTokens: 8 };
  const a = await sampleAnswers(local, p!, plans, 100, c);
  assert.equal(a.length, 11, 'more plans than the max batch are split into requests');
  assert.deepEqual(await sampleAnswers(local, p!, plans, 100, c), a);
  const texts = async (seed: number) => (await local.generate({ prompt: { kind: 'text', text: 'Q: 1+1\nA:' }, n: 3, temperature: 1, maxTokens: 8, seed, skip: { policy: 'random-heads', k: 1 } })).candidates.map((x) => x.text);
  const alone = [await texts(1), await texts(2)];
  const together = await Promise.all([texts(1), texts(2)]);
  assert.deepEqual(together, alone, 'requests batched together give what they give alone');
  assert.notDeepEqual(await texts(3), alone[0]);
});

test('paired samples: sample s of every plan shares one seed, whatever the request mixes with it', async () => {
  const [p] = generatedProblems('test', 3, 1);
  const a: SkipPlan = { skipAttention: [], skipMlp: [], maskHeads: { 1: [2] } };
  const b: SkipPlan = { skipAttention: [2], skipMlp: [], maskHeads: {} };
  const plans = [a, b, a, FULL_PLAN, a, { skipAttention: [], skipMlp: [1], maskHeads: {} }];
  const c = { temperature: 1.2, topP: 1, maxTokens: 8 };
  const text = (x: { text: string }) => x.text;
  const out = await pairedAnswers(local, p!, plans, 3, 500, c, text);
  assert.equal(out.length, 3);
  for (const row of out) {
    assert.equal(row.length, plans.length);
    assert.ok(row.every((t) => t !== null && t.length > 0));
    assert.equal(row[0], row[2], 'the same plan with the same seed gives the same text in any request');
    assert.equal(row[0], row[4]);
  }
  assert.equal(new Set(out.map((row) => row[0])).size, 3, 'samples differ: each draws from its own seed');
  assert.deepEqual(await pairedAnswers(local, p!, plans, 3, 500, c, text), out, 'seeded');
  await assert.rejects(pairedAnswers(local, p!, plans, 1, 500, c), /paired samples need 2/);
});

test('plans are ordered so that neighbours share nothing (requests prefill on the full model)', () => {
  const plans: SkipPlan[] = [
    { skipAttention: [1], skipMlp: [], maskHeads: {} },
    { skipAttention: [1, 2], skipMlp: [], maskHeads: {} },
    { skipAttention: [1], skipMlp: [2], maskHeads: {} },
    { skipAttention: [], skipMlp: [], maskHeads: { 0: [1] } },
    { skipAttention: [], skipMlp: [], maskHeads: { 0: [2] } },
    FULL_PLAN,
  ];
  const order = disjointOrder(plans);
  assert.deepEqual([...order].sort(), [0, 1, 2, 3, 4, 5]);
  for (let i = 0; i < order.length; i++) {
    const pair = [plans[order[i]!]!, plans[order[(i + 1) % order.length]!]!];
    assert.equal(planKey(skipCore(pair)), planKey(FULL_PLAN), `neighbours ${i} and ${i + 1}`);
  }
});

test('calibration records every prompt, resumes without redoing work, and aggregates', async () => {
  const prompts = generatedProblems('train', 4, 3);
  const catalog = buildCatalog(3, 4, { seed: 1, crossPairs: 2 });
  const path = join(dir, 'router', 'calibration-records.jsonl');
  let calls = 0;
  const recs = await calibratePrompts(local, catalog, prompts, cfg, path, { onPrompt: () => calls++ });
  assert.equal(calls, 3);
  assert.equal(recs.length, 3);
  assert.equal(decodeEmbedding(recs[0]!.embedding).length, local.info.hiddenSize);
  assert.equal(recs.filter((r) => r.tf !== null).length, 2, 'importance on the first 2 prompts only');
  assert.equal(recs[0]!.tf!.heads.length, 3);
  assert.equal(recs[0]!.tf!.planLogprob.length, catalog.entries.length);
  assert.ok(recs.every((r) => r.correct!.length === catalog.entries.length && r.fullCorrect !== null));
  // Resume: the three are read back, only the new fourth prompt runs.
  calls = 0;
  const more = await calibratePrompts(local, catalog, generatedProblems('train', 4, 4), cfg, path, { onPrompt: () => calls++ });
  assert.equal(calls, 1);
  assert.deepEqual(more.slice(0, 3), recs);
  assert.equal(readFileSync(path, 'utf8').trim().split('\n').length, 1 + 4);
  await assert.rejects(calibratePrompts(local, catalog, prompts, { ...cfg, seed: 4 }, path), /other settings/);
  const agg = aggregateRecords(more, catalog, cfg, local.info, 1);
  assert.equal(agg.importance.heads.length, 3);
  assert.equal(agg.importance.heads[0]!.length, 4);
  assert.ok(agg.importance.mlp.every((x) => x > 0));
  assert.deepEqual(Object.keys(agg.domains).sort(), [...new Set(more.map((r) => r.kind!))].sort());
  for (const d of Object.values(agg.domains)) assert.equal(d.centroid.length, local.info.hiddenSize);
  assert.equal(agg.plans.length, catalog.entries.length);
  assert.equal(agg.labels, 'paired-samples');
  assert.equal(agg.informative, informativeCount(more, cfg.samplesPerPlan));
  for (const [i, r] of more.entries()) {
    const p = generatedProblems('train', 4, 4)[i]!;
    assert.equal(r.promptTokens, promptIds(local, p).length);
    assert.ok(r.prompt!.includes(p.question!.slice(0, 20)));
    assert.equal(r.answers!.length, cfg.samplesPerPlan * catalog.entries.length);
    r.correct!.forEach((c, j) => assert.equal(c, r.answers![j] === r.answer ? 1 : 0));
  }
});

test('greedy labels: one answer per plan, plans packed into requests, equal to each plan alone', async () => {
  const [p] = generatedProblems('train', 9, 1);
  const catalog = buildCatalog(3, 4, { seed: 1, crossPairs: 2 });
  const greedy: CalibrateConfig = { ...cfg, temperature: 0, samplesPerPlan: 1, fullSamples: 1, importancePrompts: 0, requestRows: 5 };
  const [r] = await calibratePrompts(local, catalog, [p!], greedy, join(dir, 'router', 'greedy.jsonl'));
  const plans = catalog.entries.map((e) => entryPlan(e));
  const text = (x: { text: string }) => x.text;
  const packed = await sampleAnswers(local, p!, plans, 7, { temperature: 0, topP: 1, maxTokens: greedy.maxTokens, requestRows: 5 }, text);
  const alone = await Promise.all(
    plans.slice(0, 6).map(async (plan) => {
      const res = await local.generate({ prompt: promptSpec(local, p!), n: 2, temperature: 0, maxTokens: greedy.maxTokens, seed: 1, skip: { policy: 'explicit', plans: [planToWire(plan), {}] } });
      return res.candidates[0]!;
    }),
  );
  assert.deepEqual(packed.slice(0, 6), alone.map((c) => c.text), 'a plan packed with others decodes as it does beside the full model');
  assert.deepEqual(r!.answers!.slice(0, 6), alone.map((c) => c.answer));
  assert.equal(informativeCount([r!], 1), r!.correct!.some((c) => c === 1) && r!.correct!.some((c) => c === 0) ? 1 : 0);
});

test('greedy labels decode only the plans that leave the full model\'s answer, and equal decoding them all', async () => {
  const catalog = buildCatalog(3, 4, { seed: 1, crossPairs: 2 });
  const plans = [...catalog.entries.map((e) => entryPlan(e)), FULL_PLAN];
  const c = { temperature: 0, topP: 1, maxTokens: 12, requestRows: 5 };
  const text = (x: { text: string; finishReason: string }) => `${x.text}|${x.finishReason}`;
  let decoded = 0;
  for (const p of generatedProblems('train', 11, 4)) {
    const all = await sampleAnswers(local, p, plans, 1, c, text);
    const checked = await greedyAnswers(local, p, plans, 1, c, text);
    assert.deepEqual(checked.answers, all, p.id);
    decoded += checked.decoded;
  }
  assert.ok(decoded > 0 && decoded < 4 * plans.length, `decoded ${decoded} of ${4 * plans.length}`);
  await assert.rejects(greedyAnswers(local, generatedProblems('train', 11, 1)[0]!, plans, 1, { ...c, temperature: 0.5 }), /temperature 0/);
});

test('a plan follows the greedy path only when every token, the end included, is its clear argmax', async () => {
  const [p] = generatedProblems('train', 12, 1);
  const ids = promptIds(local, p!);
  const full = (await local.generate({ prompt: promptSpec(local, p!), n: 1, temperature: 0, maxTokens: 8, seed: 1, skip: { policy: 'explicit', plans: [{}] } })).candidates[0]!;
  assert.deepEqual(await followsGreedyPath(local, ids, full, [FULL_PLAN]), [true]);
  // Another path (one token changed) is not followed; neither is the same path when a near tie is not trusted.
  const other = { tokenIds: full.tokenIds.map((t, i) => (i === full.tokenIds.length - 1 ? (t + 1) % local.info.vocabSize : t)), finishReason: full.finishReason };
  if (full.tokenIds.length > 1) assert.deepEqual(await followsGreedyPath(local, ids, other, [FULL_PLAN]), [false]);
  assert.deepEqual(await followsGreedyPath(local, ids, full, [FULL_PLAN], { tieMargin: 1e9 }), [full.tokenIds.length === 0]);
});

test('the latency-budget path re-scores the remaining sublayers after each pick', async () => {
  const prompts = generatedProblems('train', 5, 2);
  const table = { denseMs: 10, attentionMs: [1, 1, 1], mlpMs: [1, 1, 1] };
  const path = await measureLatencyBudgetPath(local, prompts, table, { batch: 8, context: 128 }, 1.5);
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
  const a = await calibratePrompts(local, catalog, prompts, cfg, join(dir, 'router', 'repro-a.jsonl'));
  const b = await calibratePrompts(local, catalog, prompts, cfg, join(dir, 'router', 'repro-b.jsonl'));
  assert.deepEqual(strip(b), strip(a));
});

test('router calibrate refuses --importance-prompts 0 by name before any work (calibration.json needs an importance table)', async () => {
  const { runCalibrate } = await import('../router/cli-calibrate.ts');
  await assert.rejects(runCalibrate(['--model', 'models/default', '--count', '1', '--importance-prompts', '0']), /--importance-prompts must be an integer >= 1/);
});
