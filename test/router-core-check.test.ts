import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkCore, measureCoreRatio, type CoreSearch } from '../src/router/core-check.ts';
import { coreTable, profileCachePath, type ProfileShape } from '../src/plans/latency-profile.ts';
import { sublayerKey, type Sublayer } from '../src/router/skip-core-search.ts';

const att = (...layers: number[]): Sublayer[] => layers.map((layer) => ({ kind: 'attention', layer }));

/**
 * A search over a fixed table: each attention layer saves `saving` of a 10 ms dense step, scaled;
 * it adds layers 1, 2, 3, ... until the scaled prediction reaches the target.
 */
function linearSearch(saving: number, calls: number[]): CoreSearch {
  return async (_batch, target, scale) => {
    calls.push(scale);
    const core: Sublayer[] = [];
    let predicted = 1;
    while (predicted < target && core.length < 12) {
      core.push({ kind: 'attention', layer: core.length + 1 });
      predicted = 10 / (10 - core.length * saving * 10 * scale);
    }
    return { core, predictedSpeedup: predicted, unscaledSpeedup: 10 / (10 - core.length * saving * 10) };
  };
}

test('the core check scales the sublayer times down until a core measures the target, and keeps the smallest that does', async () => {
  // Layers together save 70% of what the table says (the profile times them alone).
  const calls: number[] = [];
  const measure = async (core: Sublayer[]) => 1 / (1 - core.length * 0.05 * 0.7);
  const check = await checkCore(linearSearch(0.05, calls), measure, 8, 1.25, 128);
  assert.ok(check);
  assert.equal(calls[0], 1, 'the first search runs on the profile as measured');
  assert.ok(calls.length >= 2 && calls[1]! < 1, `the second search runs on smaller sublayer times (${calls})`);
  assert.ok(check.measured >= 1.25, `accepted core measures the target (${check.measured})`);
  // 1/(1 - k * 0.035) >= 1.25 first at k = 6 layers.
  assert.deepEqual(check.core, att(1, 2, 3, 4, 5, 6).map(sublayerKey));
  assert.ok(check.scale < 1 && check.scale > 0.6, `scale ${check.scale}`);
  assert.equal(check.batch, 8);
  assert.equal(check.target, 1.25);
});

test('a core that measures more than the profile predicts lets the check try a smaller one', async () => {
  // Together the layers save 1.5x what the table says: 3 layers already reach 1.25 (1 / (1 - 0.225)).
  const calls: number[] = [];
  const check = await checkCore(linearSearch(0.05, calls), async (core) => 1 / (1 - core.length * 0.075), 1, 1.25, 128);
  assert.ok(check);
  assert.deepEqual(check.core, att(1, 2, 3).map(sublayerKey));
  assert.ok(check.scale > 1, `scale ${check.scale}`);
  assert.ok(check.measured >= 1.25);
});

test('an unreachable target ends after a bounded number of cores with the fastest measured one', async () => {
  const calls: number[] = [];
  // Savings stop growing past 6 layers: no core reaches 1.25.
  const timed: number[] = [];
  const measure = async (core: Sublayer[]) => (timed.push(core.length), 1 / (1 - 0.02 * Math.min(core.length, 6)));
  const check = await checkCore(linearSearch(0.05, calls), measure, 8, 1.25, 128);
  assert.ok(check);
  assert.ok(timed.length >= 2 && timed.length <= 4, `2 to 4 cores timed (${timed})`);
  assert.ok(calls.length <= 8, `at most 8 searches (${calls.length})`);
  assert.equal(new Set(timed).size, timed.length, 'no core timed twice');
  assert.ok(check.measured < 1.25);
  assert.ok(check.core.length >= 6, `a core of the saturated size measured fastest (${check.core.length})`);
});

test('a scale multiplies every sublayer time of a profiled shape', () => {
  const shape: ProfileShape = { batch: 8, context: 128, denseMs: 10, switchedMs: 11, baseMs: 2, attentionMs: [1, 2], mlpMs: [3, 4] };
  const one = coreTable(shape, true);
  const half = coreTable(shape, true, 0.5);
  assert.deepEqual(half.attentionMs, one.attentionMs.map((x) => x * 0.5));
  assert.deepEqual(half.mlpMs, one.mlpMs.map((x) => x * 0.5));
  assert.equal(half.denseMs, one.denseMs);
});

test('on the runtime, a core that skips most sublayers measures faster than the dense step', { timeout: 120_000 }, async () => {
  const { loadRunner } = await import('../src/model/runner.ts');
  const runner = await loadRunner({ modelDir: 'models/default', threads: 1, maxBatch: 4 });
  try {
    const L = runner.info.numLayers;
    const most = Array.from({ length: L - 1 }, (_, i) => i + 1);
    const m = await measureCoreRatio(runner, { skipAttention: most, skipMlp: most, maskHeads: {} }, 2, 32, 16);
    assert.ok(m.denseMs > 0 && m.coreMs > 0);
    assert.ok(m.ratio > 1.5, `skipping ${L - 1} of ${L} layers: dense / core ${m.ratio.toFixed(2)}`);
  } finally {
    await runner.close();
  }
});

test('a server that measures its latency profile checks the default core once and caches the check with the profile', { timeout: 240_000 }, async () => {
  const { openLocalEngine } = await import('../src/engine/local-engine.ts');
  const cache = mkdtempSync(join(tmpdir(), 'skipserve-core-check-'));
  // Three threads: a machine key the committed profiles.json has no entry for, so startup measures one.
  const open = () => openLocalEngine({ modelDir: 'models/default', threads: 3, maxBatch: 8, measureSpeedup: false, warmup: false, profileCacheDir: cache });
  const local = await open();
  let first: { coreChecks?: { batch: number; core: string[]; scale: number; measuredAt: string }[] };
  try {
    const file = JSON.parse(readFileSync(profileCachePath(cache), 'utf8')) as { profiles: Record<string, typeof first> };
    first = Object.values(file.profiles)[0]!;
    assert.deepEqual(first.coreChecks?.map((c) => c.batch), [1, 8]);
    // The policy's default core at batch 8 is the checked one.
    const core = (await local.policies.get('latency-budget')!.sharedCore!(8))!;
    const keys = [...core.skipAttention.map((l) => `attention.${l}`), ...core.skipMlp.map((l) => `mlp.${l}`)].sort();
    assert.deepEqual(keys, [...first.coreChecks!.find((c) => c.batch === 8)!.core].sort());
  } finally {
    await local.close();
  }
  const again = await open();
  try {
    const file = JSON.parse(readFileSync(profileCachePath(cache), 'utf8')) as { profiles: Record<string, typeof first> };
    assert.deepEqual(Object.values(file.profiles)[0]!.coreChecks, first.coreChecks, 'a cached check is not measured again');
  } finally {
    await again.close();
  }
});
