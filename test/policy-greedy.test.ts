import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coreToPlan, greedySkipCore, predictedSpeedup, type LatencyTable, type Sublayer } from '../src/router/skip-core-search.ts';
import { coreTable } from '../src/plans/latency-profile.ts';

const table: LatencyTable = { denseMs: 10, attentionMs: [1, 1, 1, 1], mlpMs: [1.5, 1.5, 1.5, 1.5] };

test('picks by importance per millisecond and stops at the target', async () => {
  const imp: Record<string, number> = { 'attention.0': 9, 'mlp.0': 9, 'attention.1': 0.2, 'mlp.1': 0.6, 'attention.2': 0.5, 'mlp.2': 0.45, 'attention.3': 0.1, 'mlp.3': 2 };
  const r = await greedySkipCore({ numLayers: 4, latency: table, targetSpeedup: 1.25, importance: (_c, rest) => rest.map((s) => imp[`${s.kind}.${s.layer}`]!) });
  // ratios (importance / ms): attention.3 0.1, attention.1 0.2, mlp.2 0.3, ...; 10 / (10 - 2) = 1.25
  assert.deepEqual(r.picks.map((p) => `${p.sublayer.kind}.${p.sublayer.layer}`), ['attention.3', 'attention.1']);
  assert.ok(r.reached);
  assert.ok(r.predictedSpeedup >= 1.25);
  assert.equal(r.predictedSpeedup, predictedSpeedup(table, r.core));
  assert.deepEqual(coreToPlan(r.core), { skipAttention: [1, 3], skipMlp: [], maskHeads: {} });
});

test('the last pick is the least important sublayer that reaches the target, not an overshoot by ratio', async () => {
  const t: LatencyTable = { denseMs: 10, attentionMs: [1, 1, 1, 1], mlpMs: [0.5, 0.5, 0.5, 0.5] };
  const imp: Record<string, number> = { 'attention.0': 9, 'mlp.0': 9, 'attention.1': 0.1, 'mlp.1': 0.3, 'attention.2': 0.3, 'mlp.2': 0.25, 'attention.3': 0.35, 'mlp.3': 0.4 };
  const r = await greedySkipCore({ numLayers: 4, latency: t, targetSpeedup: 1.17, importance: (_c, rest) => rest.map((s) => imp[`${s.kind}.${s.layer}`]!) });
  // attention.1 first (0.1 / ms; nothing reaches 1.17 alone). Then attention.2 has the better ratio
  // (0.3 / ms against mlp.2's 0.5) but mlp.2 reaches the target as well, 10 / 8.5 = 1.18, and loses less.
  assert.deepEqual(r.picks.map((p) => `${p.sublayer.kind}.${p.sublayer.layer}`), ['attention.1', 'mlp.2']);
  assert.ok(r.reached);
  assert.equal(r.picks[1]!.importance, 0.25);
});

test('re-scores the remaining sublayers after every pick', async () => {
  // Skipping attention.1 makes mlp.1 useless (importance 0), so it must be picked next.
  const importance = (core: Sublayer[], s: Sublayer): number => {
    if (s.kind === 'mlp' && s.layer === 1 && core.some((c) => c.kind === 'attention' && c.layer === 1)) return 0;
    return s.kind === 'attention' && s.layer === 1 ? 0.01 : 1 + s.layer;
  };
  const r = await greedySkipCore({ numLayers: 4, latency: table, targetSpeedup: 1.3, importance: (core, rest) => rest.map((s) => importance(core, s)) });
  assert.deepEqual(r.core.slice(0, 2), [{ kind: 'attention', layer: 1 }, { kind: 'mlp', layer: 1 }]);
});

test('protected sublayers are never picked; unreachable targets say so', async () => {
  const ones = (_c: Sublayer[], rest: Sublayer[]): number[] => rest.map(() => 1);
  const r = await greedySkipCore({ numLayers: 4, latency: table, targetSpeedup: 50, importance: ones, protect: (s) => s.layer === 0 });
  assert.equal(r.reached, false);
  assert.equal(r.core.length, 6);
  assert.ok(r.core.every((s) => s.layer !== 0));
  await assert.rejects(greedySkipCore({ numLayers: 4, latency: table, targetSpeedup: 0.5, importance: ones }), /targetSpeedup/);
  const capped = await greedySkipCore({ numLayers: 4, latency: table, targetSpeedup: 50, importance: ones, maxPicks: 2 });
  assert.equal(capped.core.length, 2);
});

test("a core's step pays the switched graph's cost; no core is the dense path", async () => {
  // The full plan costs 10 ms on the dense path and 11 ms through the switches.
  const taxed: LatencyTable = { ...table, switchedMs: 11 };
  assert.equal(predictedSpeedup(taxed, []), 1);
  const one = [{ kind: 'attention' as const, layer: 3 }];
  assert.equal(predictedSpeedup(taxed, one), 10 / (11 - 1));
  const ones = (_c: Sublayer[], rest: Sublayer[]): number[] => rest.map((s) => (s.kind === 'attention' ? 0.1 : 1));
  // Attention first (0.1 / ms); 10 / (11 - 3) = 1.25 needs a third sublayer where the untaxed table needed two.
  const r = await greedySkipCore({ numLayers: 4, latency: taxed, targetSpeedup: 1.25, importance: ones });
  assert.equal(r.core.length, 3);
  assert.equal((await greedySkipCore({ numLayers: 4, latency: table, targetSpeedup: 1.25, importance: ones })).core.length, 2);
});

test('with core graphs a steady core pays no switch: the dense step is the reference and the sublayers split it', () => {
  const shape = { batch: 1, context: 128, denseMs: 8, switchedMs: 11, baseMs: 2, attentionMs: [1.5, 1.5, 1.5, 1.5], mlpMs: [0.75, 0.75, 0.75, 0.75] };
  const switched = coreTable(shape, false);
  assert.deepEqual(switched, { denseMs: 8, switchedMs: 11, attentionMs: shape.attentionMs, mlpMs: shape.mlpMs });
  const cored = coreTable(shape, true);
  // The sublayers (9 ms through the switches) are scaled to the dense step's 6 ms above the empty step.
  assert.equal(cored.switchedMs, 8);
  assert.deepEqual(cored.attentionMs, [1, 1, 1, 1]);
  assert.deepEqual(cored.mlpMs, [0.5, 0.5, 0.5, 0.5]);
  const core = [{ kind: 'attention' as const, layer: 0 }, { kind: 'mlp' as const, layer: 0 }];
  assert.equal(predictedSpeedup(cored, core), 8 / (8 - 1.5));
  assert.equal(predictedSpeedup(switched, core), 8 / (11 - 2.25));
});
