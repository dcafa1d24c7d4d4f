import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPolicyRegistry, POLICIES } from '../src/plans/policies/registry.ts';
import { KNOWN_POLICIES } from '../load-tests/reliability/fuzz-http-cases.ts';
import { routerPaths, writeJsonAtomic } from '../src/router/calibration.ts';
import { modelFingerprint } from '../src/router/model-fingerprint.ts';
import { axis, info, routerDir } from './helpers/router-fixture.ts';

test('the router policies are in the registry and report availability', async () => {
  assert.deepEqual(POLICIES.map((p) => p.name), KNOWN_POLICIES, 'the fuzzers know every policy name (an unknown skip.policy is any other string)');
  const missing = { info: { ...info, dir: '/nonexistent' }, modelDir: '/nonexistent', defaults: { k: 1, targetSpeedup: 1.25 } };
  const reg = await createPolicyRegistry(missing);
  for (const name of ['head-importance', 'latency-budget', 'expert-profile', 'learned', 'ensemble']) assert.ok(reg.get(name), `${name} registered`);
  assert.match(reg.get('learned')!.unavailableReason()!, /selector\.onnx not found/);
  assert.match(reg.get('latency-budget')!.unavailableReason()!, /calibration\.json not found/);
  assert.match(reg.get('ensemble')!.unavailableReason()!, /ensemble\.json not found/);

  const dir = routerDir();
  writeJsonAtomic(routerPaths(dir).ensemble, { version: 1, numLayers: info.numLayers, numHeads: info.numHeads, weights: modelFingerprint(dir), chosenBy: 'test', plans: [{ id: 'full', accuracy: 0.5, plan: {} }] });
  const deps = { info: { ...info, dir }, modelDir: dir, defaults: { k: 2, targetSpeedup: 1.25 } };
  const full = await createPolicyRegistry(deps);
  for (const p of full.list()) assert.equal(p.unavailableReason(), null, p.name);
  const res = await full.get('learned')!.choose({ info, n: 4, seed: 1, promptTokens: [5, 6, 7], promptText: 'Q: x', options: {}, embedPrompt: async () => Float32Array.from(axis(1)) });
  assert.equal(res.plans.length, 4);
  const hi = await full.get('head-importance')!.choose({ info, n: 1, seed: 1, promptTokens: [5], promptText: 'Q', options: {}, embedPrompt: async () => new Float32Array(16) });
  assert.equal(Object.values(hi.plans[0]!.maskHeads).flat().length, 2, 'server default k');
});

test('a policy that fails to load stops startup with its error, unless it is optional', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skipserve-broken-router-'));
  const src = routerDir();
  // A calibration made for another shape is a load error (not a missing file).
  writeFileSync(join(dir, 'placeholder'), '');
  const { mkdirSync, readFileSync } = await import('node:fs');
  mkdirSync(join(dir, 'router'));
  const cal = JSON.parse(readFileSync(join(src, 'router', 'calibration.json'), 'utf8')) as { numLayers: number };
  writeFileSync(join(dir, 'router', 'calibration.json'), JSON.stringify({ ...cal, numLayers: cal.numLayers + 1 }));
  const deps = { info: { ...info, dir }, modelDir: dir, defaults: { k: 1, targetSpeedup: 1.25 } };
  await assert.rejects(createPolicyRegistry(deps), /policy 'head-importance' failed to load: .*recalibrate/);
  const failed: string[] = [];
  const reg = await createPolicyRegistry(deps, { optional: ['head-importance', 'latency-budget', 'expert-profile', 'learned', 'ensemble'], onOptionalFailure: (name) => failed.push(name) });
  assert.deepEqual(failed, ['head-importance', 'latency-budget', 'expert-profile', 'learned', 'ensemble']);
  assert.match(reg.get('learned')!.unavailableReason()!, /recalibrate/);
  assert.equal(reg.get('random-heads')!.unavailableReason(), null);
});

test('a server whose batch is smaller than 8 measures its missing latency profile within that batch and loads every policy', { timeout: 180_000 }, async () => {
  const { openLocalEngine } = await import('../src/engine/local-engine.ts');
  const { profileBatches } = await import('../src/plans/latency-profile.ts');
  assert.deepEqual(profileBatches(), [1, 8]);
  assert.deepEqual(profileBatches(4), [1, 4]);
  assert.deepEqual(profileBatches(1), [1]);
  // Three threads: a machine key the committed profiles.json has no entry for, so startup measures one.
  const local = await openLocalEngine({ modelDir: 'models/default', threads: 3, maxBatch: 4, measureSpeedup: false, profileCacheDir: null });
  try {
    for (const p of local.policies.list()) assert.equal(p.unavailableReason(), null, p.name);
  } finally {
    await local.close();
  }
});

test('startup builds the graphs of the default latency-budget cores, so the first such request runs on them', { timeout: 180_000 }, async () => {
  const { openLocalEngine } = await import('../src/engine/local-engine.ts');
  const local = await openLocalEngine({ modelDir: 'models/default', threads: 2, maxBatch: 8, measureSpeedup: false });
  try {
    const lb = local.policies.get('latency-budget')!;
    const want = new Set<string>();
    for (const n of [1, 8]) {
      const plan = (await lb.sharedCore!(n))!;
      want.add(JSON.stringify({ attention: [...plan.skipAttention].sort((a, b) => a - b), mlp: [...plan.skipMlp].sort((a, b) => a - b) }));
    }
    assert.deepEqual(new Set(local.preparedCores.cores.map((c) => JSON.stringify(c))), want);
    assert.equal(local.preparedCores.ready, want.size);
    const r = await local.generate({ prompt: { kind: 'text', text: 'Q: Ann has 12 cards and buys 30 more. How many cards does she have?\nA:' }, n: 8, maxTokens: 12, ignoreEos: true, temperature: 0.7, seed: 3, skip: { policy: 'latency-budget' } });
    assert.equal(r.candidates.length, 8);
    const steps = Object.fromEntries((await local.metrics.decodeSteps.get()).values.map((v) => [v.labels.graph, v.value]));
    assert.ok(steps.core! > 0, `the first latency-budget request decodes on its prepared core graph (${JSON.stringify(steps)})`);
    assert.equal(steps.switched ?? 0, 0, 'no step waited on the switched graph for a build');
    assert.equal((await local.metrics.coreGraphBuild.get()).values[0]?.value ?? 0, 0, 'no request waited for a build');
  } finally {
    await local.close();
  }
  const off = await openLocalEngine({ modelDir: 'models/default', threads: 1, maxBatch: 8, measureSpeedup: false, prepareCores: false });
  try {
    assert.deepEqual(off.preparedCores, { cores: [], ready: 0 });
  } finally {
    await off.close();
  }
});

test('--warm-targets builds the cores of more targets at startup, so a request asking one pays no graph build', { timeout: 180_000 }, async () => {
  const { openLocalEngine } = await import('../src/engine/local-engine.ts');
  const { loadConfig } = await import('../src/config.ts');
  const { planCore } = await import('../src/plans/plan.ts');
  assert.deepEqual(loadConfig(['--warm-targets', '1.3, 1.5']).warmTargets, [1.3, 1.5]);
  assert.deepEqual(loadConfig([]).warmTargets, []);
  assert.throws(() => loadConfig(['--warm-targets', '1.3,fast']), /--warm-targets \(SKIPSERVE_WARM_TARGETS\)/);
  assert.throws(() => loadConfig(['--warm-targets', '0.5']), /--warm-targets/);
  const local = await openLocalEngine({ modelDir: 'models/default', threads: 2, maxBatch: 8, measureSpeedup: false, warmTargets: [1.5] });
  try {
    const lb = local.policies.get('latency-budget')!;
    const prepared = new Set(local.preparedCores.cores.map((c) => JSON.stringify(c)));
    const plan = (await lb.sharedCore!(8, 1.5))!;
    const want = JSON.stringify(planCore(plan));
    assert.ok(prepared.has(want), `the 1.5x core at batch 8 is prepared (${[...prepared].join(' ')})`);
    assert.equal(local.preparedCores.ready, prepared.size);
    // The warm-up steps that core too (its first runs and the speedup meter's first samples).
    const { defaultCoresByBatch } = await import('../src/engine/prepare-cores.ts');
    const warmed = await defaultCoresByBatch(local.policies, [8], [1.5, 1.5]);
    assert.deepEqual(warmed.map((w) => [w.batch, w.core?.skipAttention, w.core?.skipMlp]), [
      [8, (await lb.sharedCore!(8))!.skipAttention, (await lb.sharedCore!(8))!.skipMlp],
      [8, plan.skipAttention, plan.skipMlp],
    ]);
    const r = await local.generate({ prompt: { kind: 'text', text: 'Q: Ann has 12 cards and buys 30 more. How many cards does she have?\nA:' }, n: 8, maxTokens: 12, ignoreEos: true, temperature: 0.7, seed: 3, skip: { policy: 'latency-budget', targetSpeedup: 1.5 } });
    assert.equal(r.candidates.length, 8);
    assert.equal((await local.metrics.coreGraphBuild.get()).values[0]?.value ?? 0, 0, 'no request waited for a build');
  } finally {
    await local.close();
  }
});

test("the arms' target_speedup values get their cores built at startup too, as --warm-targets would", { timeout: 180_000 }, async () => {
  const { openLocalEngine } = await import('../src/engine/local-engine.ts');
  const { parseArms, armTargets } = await import('../src/plans/arms.ts');
  const { planCore } = await import('../src/plans/plan.ts');
  const arms = parseArms({ arms: [{ name: 'fast', policy: 'latency-budget', weight: 1, target_speedup: 1.5 }, { name: 'faster', policy: 'learned', weight: 1, target_speedup: 1.5 }, { name: 'control', policy: 'none', weight: 1 }] });
  assert.deepEqual(armTargets(arms), [1.5]);
  assert.deepEqual(armTargets(null), []);
  const local = await openLocalEngine({ modelDir: 'models/default', threads: 2, maxBatch: 8, measureSpeedup: false, arms });
  try {
    const prepared = new Set(local.preparedCores.cores.map((c) => JSON.stringify(c)));
    const want = JSON.stringify(planCore((await local.policies.get('latency-budget')!.sharedCore!(8, 1.5))!));
    assert.ok(prepared.has(want), `the arm's 1.5x core at batch 8 is prepared (${[...prepared].join(' ')})`);
    const r = await local.generate({ prompt: { kind: 'text', text: 'Q: Ann has 12 cards and buys 30 more. How many cards does she have?\nA:' }, n: 8, maxTokens: 12, ignoreEos: true, temperature: 0.7, seed: 3, skip: { policy: 'latency-budget', targetSpeedup: 1.5 } });
    assert.equal(r.candidates.length, 8);
    assert.equal((await local.metrics.coreGraphBuild.get()).values[0]?.value ?? 0, 0, 'no request waited for a build');
  } finally {
    await local.close();
  }
});
