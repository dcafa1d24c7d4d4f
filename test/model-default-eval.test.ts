/**
 * The evaluation helpers behind `skipserve eval`: scoring of engine results (pass@n, the vote, distinct answers,
 * breakdown by steps and kind) and the skip suite (every head, every sublayer, random cores near
 * 25% / 50% of the sublayer FLOPs, layer 0 spared).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { breakdown, figures, scoreResult, votedCorrect } from '../models/train/eval/scoring.ts';
import type { GenerationResult } from '../src/engine/types.ts';
import { FULL_PLAN } from '../src/plans/plan.ts';
import { removedSublayerFraction, suitePlans } from '../models/train/eval/skip-suite.ts';
import type { Problem } from '../models/train/generator/problems.ts';
import type { ModelInfo } from '../src/model/model-info.ts';

const problem = (answer: number, steps: number, kind: Problem['kind']): Problem => ({
  id: `p${answer}`, question: 'q', solution: `The answer is ${answer}.`, answer, steps, ops: ['+'], kind, tier: 'standard',
});

/** An engine result with these answers, the vote's pick given. */
function result(answers: (string | null)[], selectedIndex: number | null): GenerationResult {
  return {
    candidates: answers.map((answer, index) => ({ index, text: '', tokenIds: [], finishReason: 'stop', plan: FULL_PLAN, answer, meanLogprob: -1, logprobs: [] })),
    selectedIndex,
    policy: 'none',
    speedup: 1,
    skippedComputeRatio: 0,
    diversity: { uniqueAnswers: 0, answerEntropy: 0, distinct2: 0, meanPairwiseDistance: 0, majorityShare: 0, planDistance: 0 },
    promptTokens: 1,
    cachedTokens: 0,
    completionTokens: 0,
    timings: { queueMs: 0, firstTokenMs: null, totalMs: 1 },
  };
}

test('scoring reads the engine result: its vote, pass@n, distinct answers, with 95% intervals', () => {
  const a = scoreResult(problem(12, 1, 'add-sub'), result(['12', '13', '13', null], 1));
  assert.deepEqual(a.answers, ['12', '13', '13', null]);
  assert.deepEqual(a.correct, [true, false, false, false]);
  assert.equal(a.voted, '13', "the server's selected candidate is the vote");
  const b = scoreResult(problem(7, 6, 'mixed'), result(['7', '7', '2', '7'], 0));
  const f = figures([a, b]);
  assert.equal(f.sampleAcc, (0.25 + 0.75) / 2);
  assert.equal(f.passAtN, 1);
  assert.equal(f.majorityAtN, 0.5);
  assert.equal(f.distinctAnswers, (2 + 2) / 2);
  assert.ok(f.majorityCi.lo < 0.5 && f.majorityCi.hi > 0.5);
  assert.deepEqual(votedCorrect([a, b]), [0, 1]);
  const g = breakdown([a, b]);
  assert.deepEqual(Object.keys(g), ['all', 'steps=1', 'steps=6', 'kind=add-sub', 'kind=mixed']);
  assert.equal(g['steps=6']!.majorityAtN, 1);
  assert.equal(scoreResult(problem(7, 6, 'mixed'), result([null, null], null)).voted, null);
});

test('the skip suite covers every head and sublayer, and random cores hit their FLOP targets', () => {
  const info: ModelInfo = {
    id: 'm', dir: '.', architecture: 'LlamaForCausalLM', numLayers: 6, numHeads: 8, numKvHeads: 2, headDim: 20,
    hiddenSize: 160, intermediateSize: 384, vocabSize: 384, maxPositions: 512, eosTokenIds: [2],
  };
  const plans = suitePlans(info, 4, 9);
  assert.equal(plans.filter((p) => p.group === 'head').length, 48);
  assert.equal(plans.filter((p) => p.group === 'sublayer').length, 12);
  for (const group of ['core25', 'core50'] as const) {
    const cores = plans.filter((p) => p.group === group);
    assert.equal(cores.length, 4);
    const target = group === 'core25' ? 0.25 : 0.5;
    for (const c of cores) {
      assert.ok(Math.abs(c.removed - target) < 0.1, `${c.name} removes ${c.removed}`);
      assert.equal(c.removed, removedSublayerFraction(c.plan, info));
      assert.ok(![...c.plan.skipAttention, ...c.plan.skipMlp].includes(0), 'layer 0 is spared');
    }
  }
  assert.deepEqual(suitePlans(info, 4, 9), plans, 'same seed, same cores');
});

test('the skip suite runs only the groups asked for, each row paired with the full model on the same problems', async () => {
  const { openLocalEngine } = await import('../src/engine/local-engine.ts');
  const { generateSplit } = await import('../models/train/generator/split.ts');
  const { runSkipSuite } = await import('../models/train/eval/skip-report.ts');
  const local = await openLocalEngine({ modelDir: 'models/default', threads: 1, maxBatch: 16, defaultMaxTokens: 160, measureSpeedup: false });
  try {
    const problems = [...generateSplit({ split: 'test', seed: 5, count: 12, tier: 'standard' })];
    const suite = await runSkipSuite({ local, problems, seed: 5, maxTokens: 160 }, 2, 5, ['core25']);
    assert.deepEqual(suite.rows.map((r) => r.group), ['full', 'core25', 'core25']);
    for (const r of suite.rows) {
      assert.equal(r.paired.n, 12);
      assert.ok(Math.abs(r.paired.diff + r.drop) < 1e-12, 'the paired difference is minus the drop');
      assert.ok(r.paired.lo <= r.paired.diff && r.paired.diff <= r.paired.hi);
    }
    assert.match(suite.markdown, /vs full, paired, 95%/);
  } finally {
    await local.close();
  }
});

test('--baseline pairs a run with an earlier run on the same problems, figure by figure', async () => {
  const { mkdtempSync, readFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { run } = await import('../models/train/eval/cli.ts');
  const dir = mkdtempSync(join(tmpdir(), 'eval-baseline-'));
  const common = ['--model', 'models/default', '--tier', 'standard', '--count', '6', '--seed', '3', '--threads', '1'];
  await run([...common, '--n', '2', '--json', join(dir, 'base.json')]);
  const base = JSON.parse(readFileSync(join(dir, 'base.json'), 'utf8'));
  assert.equal(base.problemIds.length, 6);
  assert.deepEqual(Object.keys(base.correct).sort(), ['greedy', 'maj@2', 'pass@2']);
  // Against itself greedy must pair to exactly zero (greedy decoding is deterministic).
  await run([...common, '--baseline', join(dir, 'base.json'), '--json', join(dir, 'again.json')]);
  const again = JSON.parse(readFileSync(join(dir, 'again.json'), 'utf8'));
  assert.deepEqual(again.vsBaseline.map((d: { figure: string }) => d.figure), ['greedy'], 'only the figures both runs measured');
  assert.equal(again.vsBaseline[0].diff.diff, 0);
  assert.equal(again.vsBaseline[0].diff.n, 6);
  const fiveProblems = common.map((a, i) => (common[i - 1] === '--count' ? '5' : a));
  await assert.rejects(run([...fiveProblems, '--baseline', join(dir, 'base.json')]), /--baseline .*other problems/);
  await assert.rejects(run([...common, '--baseline', join(dir, 'missing.json')]), /--baseline .*not readable/);
});
