/**
 * Which sublayers the latency-budget core skips: the least accuracy lost per millisecond saved when
 * calibration answered every question under each single-sublayer skip; the teacher-forced path
 * otherwise (a calibration without those plans, as in the fixture).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ACCURACY_LOSS_FLOOR, latencyBudgetCore, sublayerAccuracyLoss } from '../src/router/calibrated-cores.ts';
import type { CalibrationResult } from '../src/router/calibration.ts';
import { sublayerKey, type LatencyTable } from '../src/router/skip-core-search.ts';
import { calibration } from './helpers/router-fixture.ts';
import { sharingCost } from '../src/router/shared-core.ts';

const table: LatencyTable = { denseMs: 10, attentionMs: [1, 1, 1, 1], mlpMs: [1.5, 1.5, 1.5, 1.5] };

/** The fixture's calibration with single-skip accuracies (full model 0.80). */
function withSingles(acc: Record<string, number>): CalibrationResult {
  const cal = calibration();
  cal.plans = [...Object.entries(acc).map(([id, accuracy]) => ({ id, accuracy, meanLogprob: null })), { id: 'full', accuracy: 0.8, meanLogprob: null }];
  return cal;
}

const singles = { a1: 0.79, m1: 0.6, a2: 0.5, m2: 0.81, a3: 0.7, m3: 0.78 };

test('single-skip accuracies rank the sublayers: least accuracy lost per millisecond saved', async () => {
  const cal = withSingles(singles);
  const loss = sublayerAccuracyLoss(cal)!;
  assert.ok(loss);
  assert.equal(loss({ kind: 'mlp', layer: 2 }), ACCURACY_LOSS_FLOOR, 'a skip that gained accuracy costs only the floor');
  assert.ok(Math.abs(loss({ kind: 'attention', layer: 2 }) - (0.3 + ACCURACY_LOSS_FLOOR)) < 1e-12);
  assert.equal(loss({ kind: 'attention', layer: 0 }), Infinity, 'no single-skip plan: never picked');
  // mlp.2 (free), then attention.1 (0.011 over 1 ms) before mlp.3 (0.021 over 1.5 ms); the
  // teacher-forced path would have taken attention.3 first.
  const r = await latencyBudgetCore(cal, table, 1.6);
  assert.deepEqual(r.core.map(sublayerKey), ['mlp.2', 'attention.1', 'mlp.3']);
  assert.ok(r.reached && r.predictedSpeedup >= 1.6);
});

test('without a single-skip plan for every sublayer the teacher-forced path decides', async () => {
  const { a2: _, ...partial } = singles;
  const cal = withSingles(partial);
  assert.equal(sublayerAccuracyLoss(cal), null);
  const tf = await latencyBudgetCore(calibration(), table, 1.25);
  assert.deepEqual((await latencyBudgetCore(cal, table, 1.25)).core, tf.core);
  assert.deepEqual(tf.core.map(sublayerKey), ['attention.3', 'mlp.3']);
  const noFull = withSingles(singles);
  noFull.fullAccuracy = null;
  assert.equal(sublayerAccuracyLoss(noFull), null);
});

test('a core is searched once per calibration, target and latency figures', async () => {
  const cal = withSingles(singles);
  const first = latencyBudgetCore(cal, table, 1.6);
  assert.equal(latencyBudgetCore(cal, { ...table, attentionMs: [...table.attentionMs] }, 1.6), first, 'equal figures: the same search');
  assert.notEqual(latencyBudgetCore(cal, table, 1.3), first, 'another target: its own search');
  assert.notEqual(latencyBudgetCore(cal, { ...table, denseMs: 12 }, 1.6), first, 'new figures (a live profile moved): searched again');
  assert.notEqual(latencyBudgetCore(withSingles(singles), table, 1.6), first, 'another calibration (a reload): searched again');
  assert.deepEqual((await first).core.map(sublayerKey), ['mlp.2', 'attention.1', 'mlp.3']);
});

test('expert-profile compares cores by measured single-skip accuracy where calibration has it, else by the domain importances', () => {
  const cal = withSingles(singles);
  const domain = cal.domains[Object.keys(cal.domains)[0]!]!;
  const core = [{ kind: 'attention' as const, layer: 1 }, { kind: 'mlp' as const, layer: 2 }];
  const measured = sharingCost(cal, domain);
  assert.equal(measured.measure, 'accuracy');
  assert.ok(Math.abs(measured.cost(core) - (0.01 + 2 * ACCURACY_LOSS_FLOOR)) < 1e-12);
  const byImportance = sharingCost(calibration(), domain);
  assert.equal(byImportance.measure, 'importance');
  assert.equal(byImportance.cost(core), domain.attention[1]! + domain.mlp[2]!);
});
