import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtinRegistry, discoverPolicies } from '../src/plans/policies/registry.ts';
import { axis, info, routerDir } from './helpers/router-fixture.ts';

test('the router policies plug into the registry and report availability', async () => {
  const missing = { info: { ...info, dir: '/nonexistent' }, modelDir: '/nonexistent', defaults: { k: 1 } };
  const reg = builtinRegistry(missing);
  const errors: string[] = [];
  await discoverPolicies(reg, missing, (file, err) => errors.push(`${file}: ${err}`));
  assert.deepEqual(errors, []);
  for (const name of ['head-importance', 'latency-budget', 'expert-profile', 'learned']) assert.ok(reg.get(name), `${name} registered`);
  assert.match(reg.get('learned')!.unavailableReason()!, /selector\.onnx not found/);
  assert.match(reg.get('latency-budget')!.unavailableReason()!, /calibration\.json not found/);

  const dir = routerDir();
  const deps = { info: { ...info, dir }, modelDir: dir, defaults: { k: 2, targetSpeedup: 1.25 } };
  const full = builtinRegistry(deps);
  await discoverPolicies(full, deps);
  for (const p of full.list()) assert.equal(p.unavailableReason(), null, p.name);
  const res = await full.get('learned')!.choose({ info, n: 4, seed: 1, promptTokens: [5, 6, 7], promptText: 'Q: x', options: {}, embedPrompt: async () => Float32Array.from(axis(1)) });
  assert.equal(res.plans.length, 4);
  const hi = await full.get('head-importance')!.choose({ info, n: 1, seed: 1, promptTokens: [5], promptText: 'Q', options: {}, embedPrompt: async () => new Float32Array(16) });
  assert.equal(Object.values(hi.plans[0]!.maskHeads).flat().length, 2, 'server default k');
});
