import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidRequestError } from '../src/errors.ts';
import { predictSpeedup } from '../src/plans/latency-profile.ts';
import { validatePlan, type SkipPlan } from '../src/plans/plan.ts';
import { createExpertProfilePolicy } from '../src/plans/policies/expert-profile.ts';
import { createHeadImportancePolicy } from '../src/plans/policies/head-importance.ts';
import { createLatencyBudgetPolicy } from '../src/plans/policies/latency-budget.ts';
import { createLearnedPolicy } from '../src/plans/policies/learned.ts';
import type { PolicyContext, PolicyOptions } from '../src/plans/policies/policy.ts';
import { planKey, skipCore } from '../src/plans/plan.ts';
import { onCore, subNetworksPolicy } from '../src/plans/policies/sub-networks.ts';
import { loadRouterResources, type RouterResources } from '../src/router/resources.ts';
import { planSublayers, sharingCost, type LiveCore } from '../src/router/shared-core.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { routerPaths, writeJsonAtomic } from '../src/router/calibration.ts';
import { modelFingerprint } from '../src/router/model-fingerprint.ts';
import { inheritCalibration } from '../apt/train-model.ts';
import { axis, calibration, HIDDEN, info, profile, routerDir } from './helpers/router-fixture.ts';

function ctx(n: number, options: PolicyOptions = {}, embedding = axis(0)): PolicyContext {
  return { info, n, seed: 1, promptTokens: Array.from({ length: 20 }, (_, i) => i + 3), promptText: 'Q: x', options, embedPrompt: async () => Float32Array.from(embedding) };
}

async function resources(withSelector = true, withProfile = true): Promise<RouterResources> {
  return loadRouterResources(info, routerDir(withSelector), { profile: withProfile ? profile() : null });
}

const valid = (plans: SkipPlan[]): void => {
  for (const p of plans) assert.deepEqual(validatePlan(p, info), p);
};

test('head-importance masks the k least important heads for every candidate', async () => {
  const r = await resources();
  const pol = createHeadImportancePolicy(r, 1);
  assert.equal(pol.unavailableReason(), null);
  const one = await pol.choose(ctx(3));
  assert.equal(one.plans.length, 3);
  valid(one.plans);
  assert.deepEqual(one.plans[0], { skipAttention: [], skipMlp: [], maskHeads: { 2: [3] } });
  const two = await pol.choose(ctx(2, { k: 2 }));
  assert.deepEqual(two.plans[1], { skipAttention: [], skipMlp: [], maskHeads: { 2: [3], 3: [1] } });
  assert.deepEqual(await pol.choose(ctx(2, { k: 2 })), two);
  await assert.rejects(pol.choose(ctx(1, { k: 16 })), (e: unknown) => e instanceof InvalidRequestError && e.field === 'k');
});

test('latency-budget meets its target on the measured profile, shared by all candidates', async () => {
  const r = await resources();
  const pol = createLatencyBudgetPolicy(r);
  for (const target of [1.1, 1.25, 1.5, 2]) {
    for (const n of [1, 8]) {
      const res = await pol.choose(ctx(n, { targetSpeedup: target }));
      assert.equal(res.plans.length, n);
      valid(res.plans);
      assert.ok(res.plans.every((p) => planKey(p) === planKey(res.plans[0]!)), 'candidates share one core');
      assert.ok(predictSpeedup(r.profile!, res.plans) >= target, `n=${n} target ${target}: ${predictSpeedup(r.profile!, res.plans)}`);
      assert.equal(res.plans[0]!.skipAttention.includes(0) || res.plans[0]!.skipMlp.includes(0), false, 'layer 0 is too important');
    }
  }
  // Re-scored path: after attention.3, mlp.3 is nearly free, so layer 3 goes whole.
  const d = await pol.choose(ctx(8, { targetSpeedup: 1.25 }));
  assert.deepEqual(d.plans[0], { skipAttention: [3], skipMlp: [3], maskHeads: {} });
  assert.deepEqual((d.detail as { core: string[] }).core, ['attention.3', 'mlp.3']);
  // Default target comes from the server setting.
  const dflt = await pol.choose(ctx(8));
  assert.equal((dflt.detail as { targetSpeedup: number }).targetSpeedup, 1.25);
  await assert.rejects(pol.choose(ctx(1, { targetSpeedup: 100 })), (e: unknown) => e instanceof InvalidRequestError && e.field === 'targetSpeedup');
  // Without a live profile it falls back to the table calibration used.
  const r2 = await resources(true, false);
  const res2 = await createLatencyBudgetPolicy(r2).choose(ctx(8, { targetSpeedup: 1.25 }));
  assert.deepEqual(res2.plans[0], d.plans[0]);
});

test('expert-profile uses the named domain or infers it from the prompt embedding', async () => {
  const r = await resources();
  const pol = createExpertProfilePolicy(r);
  assert.equal(pol.unavailableReason(), null);
  const named = await pol.choose(ctx(4, { domain: 'mul-div' }));
  assert.equal((named.detail as { domain: string }).domain, 'mul-div');
  assert.equal((named.detail as { inferred: boolean }).inferred, false);
  valid(named.plans);
  assert.ok(predictSpeedup(r.profile!, named.plans) >= 1.25);
  const inferred = await pol.choose(ctx(4, {}, axis(1, 3)));
  assert.equal((inferred.detail as { domain: string }).domain, 'mul-div');
  assert.equal((inferred.detail as { inferred: boolean }).inferred, true);
  assert.deepEqual(inferred.plans, named.plans);
  const other = await pol.choose(ctx(4, {}, axis(0, 2)));
  assert.equal((other.detail as { domain: string }).domain, 'add-sub');
  const withHeads = await pol.choose(ctx(2, { domain: 'add-sub', k: 2 }));
  assert.equal(Object.values(withHeads.plans[0]!.maskHeads).flat().length, 2);
  await assert.rejects(pol.choose(ctx(1, { domain: 'poetry' })), (e: unknown) => e instanceof InvalidRequestError && e.field === 'domain' && /add-sub, mul-div/.test(e.message));
});

test('expert-profile takes a live core that reaches its target and costs its domain little more than its own, else its own', async () => {
  const r = await resources();
  const pol = createExpertProfilePolicy(r);
  const own = await pol.choose(ctx(4, { domain: 'mul-div' }));
  const other = await pol.choose(ctx(4, { domain: 'add-sub' }));
  const ownCore = { ...own.plans[0]!, maskHeads: {} };
  const otherCore = { ...other.plans[0]!, maskHeads: {} };
  assert.notEqual(planKey(ownCore), planKey(otherCore), 'the fixture gives the two domains different cores');
  const withLive = (live: LiveCore[]): PolicyContext => ({ ...ctx(4, { domain: 'mul-div' }), liveCores: () => live });
  // The fixture's calibration has no single-skip accuracies: cores are compared by the domain's importances.
  const { cost, measure } = sharingCost(r.calibration!, r.calibration!.domains['mul-div']!);
  assert.equal(measure, 'importance');
  const ratio = cost(planSublayers(otherCore)) / cost(planSublayers(ownCore));
  // Accepted: a generous tolerance, and the other core has more rows in flight than this domain's own.
  r.coreShareTolerance = ratio;
  const shared = await pol.choose(withLive([{ plan: otherCore, rows: 8 }, { plan: ownCore, rows: 4 }]));
  assert.deepEqual(shared.plans[0], otherCore);
  assert.equal((shared.detail as { sharedCore?: boolean }).sharedCore, true);
  assert.ok(predictSpeedup(r.profile!, shared.plans) >= 1.25);
  // Refused: its own core has as many rows; the tolerance is below the loss ratio; sharing is off; a core too slow.
  assert.deepEqual((await pol.choose(withLive([{ plan: otherCore, rows: 4 }, { plan: ownCore, rows: 4 }]))).plans[0], ownCore);
  // Its own core used a moment ago (no row in flight) does not hold it back; a core used a moment ago may be taken.
  assert.deepEqual((await pol.choose(withLive([{ plan: otherCore, rows: 4 }, { plan: ownCore, rows: 4, recent: true }]))).plans[0], otherCore);
  assert.deepEqual((await pol.choose(withLive([{ plan: otherCore, rows: 4, recent: true }]))).plans[0], otherCore);
  assert.ok(ratio > 1, `the other domain's core costs this one more (${ratio})`);
  r.coreShareTolerance = (ratio - 1) / 2;
  assert.deepEqual((await pol.choose(withLive([{ plan: otherCore, rows: 8 }]))).plans[0], ownCore);
  r.coreShareTolerance = 0;
  assert.deepEqual((await pol.choose(withLive([{ plan: otherCore, rows: 8 }]))).plans[0], ownCore);
  r.coreShareTolerance = 100;
  const slow = { skipAttention: [], skipMlp: [1], maskHeads: {} };
  assert.deepEqual((await pol.choose(withLive([{ plan: slow, rows: 64 }]))).plans[0], ownCore);
});

test('learned returns N distinct plans, deterministically; fast mode puts head masks on a shared core', async () => {
  const r = await resources();
  const pol = createLearnedPolicy(r);
  assert.equal(pol.unavailableReason(), null);
  for (const n of [1, 4, 8]) {
    const res = await pol.choose(ctx(n, {}, axis(2, 2)));
    assert.equal(res.plans.length, n);
    valid(res.plans);
    assert.equal(new Set(res.plans.map(planKey)).size, n, 'distinct plans');
    assert.deepEqual(await pol.choose(ctx(n, {}, axis(2, 2))), res);
  }
  // Without a core the whole catalog is open, sublayer entries included.
  const wide = await pol.choose(ctx(r.catalog!.entries.length, {}, axis(2, 2)));
  assert.ok(wide.plans.some((p) => p.skipAttention.length + p.skipMlp.length > 0));
  const a = await pol.choose(ctx(4, {}, axis(3, 2)));
  const b = await pol.choose(ctx(4, {}, axis(5, -2)));
  assert.notDeepEqual(a.plans, b.plans, 'the choice depends on the prompt');
  for (const n of [4, 8]) {
    const cored = await pol.choose(ctx(n, { targetSpeedup: 1.25 }, axis(2, 2)));
    assert.equal(new Set(cored.plans.map(planKey)).size, n);
    const core = (cored.detail as { core: string[] }).core;
    assert.ok(core.length > 0);
    for (const p of cored.plans) {
      assert.deepEqual({ a: p.skipAttention, m: p.skipMlp }, { a: cored.plans[0]!.skipAttention, m: cored.plans[0]!.skipMlp }, 'every candidate skips exactly the core');
      assert.ok(Object.keys(p.maskHeads).some((l) => !p.skipAttention.includes(Number(l))), 'each candidate masks a head the core still computes');
    }
    assert.ok(predictSpeedup(r.profile!, cored.plans) >= 1.25);
  }
  await assert.rejects(pol.choose(ctx(10_000)), (e: unknown) => e instanceof InvalidRequestError && e.field === 'n');
  await assert.rejects(pol.choose(ctx(r.catalog!.entries.length, { targetSpeedup: 1.25 })), (e: unknown) => e instanceof InvalidRequestError && e.field === 'n');
});

test('skip cores depend on the target and the batch-size bucket, never on the prompt', async () => {
  const r = await resources();
  // A long-context shape where attention dominates: a core chosen by prompt length would differ there.
  r.profile!.shapes.push({ batch: 8, context: 512, denseMs: 40, switchedMs: 40, baseMs: 3, attentionMs: [6, 6, 6, 6], mlpMs: [1, 1, 1, 1] });
  const lb = createLatencyBudgetPolicy(r);
  const learned = createLearnedPolicy(r);
  const withPrompt = (n: number, len: number, options: PolicyOptions): PolicyContext => ({ ...ctx(n, options), promptTokens: Array.from({ length: len }, (_, i) => i + 3) });
  const coreOf = (res: { plans: SkipPlan[] }) => planKey({ ...res.plans[0]!, maskHeads: {} });
  for (const target of [1.25, 1.5]) {
    const ref = coreOf(await lb.choose(withPrompt(8, 20, { targetSpeedup: target })));
    for (const [n, len] of [[8, 500], [4, 5], [6, 120]] as const) {
      assert.equal(coreOf(await lb.choose(withPrompt(n, len, { targetSpeedup: target }))), ref, `latency-budget n=${n} prompt ${len}`);
      assert.equal(coreOf(await learned.choose(withPrompt(n, len, { targetSpeedup: target }))), ref, `learned n=${n} prompt ${len}`);
    }
  }
});

test('policies report themselves unavailable when their files are missing', async () => {
  const noSel = await resources(false);
  assert.match(createLearnedPolicy(noSel).unavailableReason()!, /selector\.onnx not found/);
  assert.equal(createLatencyBudgetPolicy(noSel).unavailableReason(), null);
  const empty = await loadRouterResources({ ...info, hiddenSize: HIDDEN }, '/nonexistent-model-dir');
  for (const p of [createHeadImportancePolicy(empty), createLatencyBudgetPolicy(empty), createExpertProfilePolicy(empty)]) {
    assert.match(p.unavailableReason()!, /calibration\.json not found/);
  }
});

test('router files measured on other weights are refused, naming both fingerprints', async () => {
  const modelDir = mkdtempSync(join(tmpdir(), 'router-weights-'));
  writeFileSync(join(modelDir, 'model.safetensors'), 'retrained weights');
  const dir = routerDir(true);
  const path = routerPaths(dir).calibration;
  const ours = modelFingerprint(modelDir);
  writeJsonAtomic(path, { ...calibration(), weights: '0123456789abcdef' });
  const stale = await loadRouterResources({ ...info, dir: modelDir }, dir, { profile: profile() });
  assert.equal(stale.calibration, null);
  assert.equal(stale.selector, null);
  for (const p of [createLearnedPolicy(stale), createHeadImportancePolicy(stale), createLatencyBudgetPolicy(stale)]) {
    assert.match(p.unavailableReason()!, new RegExp(`measured on weights 0123456789abcdef, the model's are ${ours}`));
  }
  writeJsonAtomic(path, { ...calibration(), weights: ours });
  const fresh = await loadRouterResources({ ...info, dir: modelDir }, dir, { profile: profile() });
  assert.equal(createLearnedPolicy(fresh).unavailableReason(), null);
  assert.equal(createLatencyBudgetPolicy(fresh).unavailableReason(), null);
});

test('an APT candidate keeps its baseline calibration knowingly: re-addressed to its weights, naming the ones it was measured on', async () => {
  const dir = routerDir(true);
  writeFileSync(join(dir, 'model.safetensors'), 'fine-tuned weights');
  writeJsonAtomic(routerPaths(dir).calibration, { ...calibration(), weights: 'feedfacefeedface' });
  assert.equal((await loadRouterResources({ ...info, dir }, dir)).calibration, null);
  inheritCalibration(dir);
  const r = await loadRouterResources({ ...info, dir }, dir);
  assert.equal(r.calibration?.weights, modelFingerprint(dir));
  assert.equal(r.calibration?.measuredOn, 'feedfacefeedface');
  assert.equal(createLearnedPolicy(r).unavailableReason(), null);
});

test('sub-networks fast mode: every candidate skips the latency-budget core, the sub-networks own sublayers on top; without calibration it names the field', async () => {
  const r = await resources();
  const lb = createLatencyBudgetPolicy(r);
  const pol = subNetworksPolicy(async () => r);
  const plain = await pol.choose(ctx(4));
  assert.equal(plain.detail?.targetSpeedup, undefined);
  for (const target of [1.25, 1.5]) {
    const core = (await lb.choose(ctx(4, { targetSpeedup: target }))).plans[0]!;
    const fast = await pol.choose(ctx(4, { targetSpeedup: target }));
    valid(fast.plans);
    assert.deepEqual(fast.plans[0], core, 'candidate 0: the core alone');
    assert.equal(planKey(skipCore(fast.plans)), planKey(core), 'the batch shares exactly the core');
    fast.plans.forEach((p, i) => assert.deepEqual(p, onCore([plain.plans[i]!], core)[0], `candidate ${i}: its sub-network on the core`));
    assert.equal(fast.detail?.targetSpeedup, target);
  }
  const empty = await loadRouterResources({ ...info, hiddenSize: HIDDEN }, '/nonexistent-model-dir');
  for (const p of [subNetworksPolicy(async () => empty), subNetworksPolicy()]) {
    assert.equal(p.unavailableReason(), null, 'the ensemble itself needs no router files');
    assert.equal((await p.choose(ctx(2))).plans.length, 2);
    await assert.rejects(p.choose(ctx(2, { targetSpeedup: 1.25 })), (e: unknown) => e instanceof InvalidRequestError && e.field === 'targetSpeedup');
  }
});
