import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildCatalog, buildCoresCatalog, saveCatalog } from '../router/catalog-build.ts';
import { planCost } from '../src/plans/cost.ts';
import { entryPlan, isHeadMaskEntry, loadCatalog, parseCatalog } from '../src/router/catalog.ts';
import { validatePlan } from '../src/plans/plan.ts';
import { TEXT_FEATURE_COUNT, TEXT_FEATURE_NAMES, textFeatures } from '../src/router/text-features.ts';
import { entriesForCore } from '../src/plans/policies/learned.ts';

test('a catalog of sub-networks: the full model and distinct seeded random cores of about the asked share, layer 0 spared; it loads back', () => {
  const shape = { numLayers: 16, numHeads: 8, numKvHeads: 2, hiddenSize: 160, intermediateSize: 384, headDim: 20, vocabSize: 384 };
  const cat = buildCoresCatalog(shape, 24, [0.2], 3);
  assert.equal(cat.entries.length, 25);
  assert.equal(cat.entries[0]!.kind, 'full');
  assert.equal(new Set(cat.entries.map((e) => e.id)).size, 25);
  for (const e of cat.entries.slice(1)) {
    assert.equal(e.kind, 'sublayer');
    assert.equal(e.heads.length, 0);
    assert.ok(![...(e.skipAttention ?? []), ...(e.skipMlp ?? [])].includes(0), 'layer 0 is never skipped');
    const share = planCost(entryPlan(e), shape).sublayerFraction;
    assert.ok(share > 0.1 && share < 0.3, `share ${share}`);
  }
  assert.deepEqual(buildCoresCatalog(shape, 24, [0.2], 3), cat, 'seeded');
  const two = buildCoresCatalog(shape, 8, [0.1, 0.3], 3).entries.slice(1).map((e) => planCost(entryPlan(e), shape).sublayerFraction);
  assert.ok(two.filter((_, i) => i % 2 === 0).every((f) => f < 0.2) && two.filter((_, i) => i % 2 === 1).every((f) => f > 0.2), `alternating shares ${two}`);
  const path = join(mkdtempSync(join(tmpdir(), 'cores-')), 'catalog.json');
  saveCatalog(path, cat);
  assert.deepEqual(loadCatalog(path), cat);
});

test('the catalog holds head masks, sublayer skips of layers >= 1, their combinations and the full model', () => {
  const cat = buildCatalog(6, 8, { seed: 1 });
  const kinds = (k: string) => cat.entries.filter((e) => e.kind === k);
  assert.equal(kinds('single').length, 48);
  assert.equal(kinds('group').length, 24 + 24);
  assert.equal(kinds('full').length, 1);
  const sub = kinds('sublayer');
  for (let l = 1; l < 6; l++) {
    assert.ok(sub.some((e) => e.id === `a${l}`), `attention ${l}`);
    assert.ok(sub.some((e) => e.id === `m${l}`), `mlp ${l}`);
  }
  assert.ok(!sub.some((e) => [...(e.skipAttention ?? []), ...(e.skipMlp ?? [])].includes(0)), 'layer 0 is never skipped');
  assert.equal(sub.filter((e) => (e.skipAttention?.length ?? 0) + (e.skipMlp?.length ?? 0) === 2).length, 5, 'sublayer pairs');
  assert.equal(sub.filter((e) => e.heads.length === 1).length, 5, 'sublayer + head');
  assert.equal(new Set(cat.entries.map((e) => e.id)).size, cat.entries.length);
  for (const e of cat.entries) assert.deepEqual(validatePlan(entryPlan(e), { numLayers: 6, numHeads: 8 }), entryPlan(e));
  assert.deepEqual(buildCatalog(6, 8, { seed: 1 }), cat, 'seeded');
});

test('the full catalog starts with the heads-only catalog of the same seed', () => {
  const heads = buildCatalog(6, 8, { seed: 1, sublayers: false, full: false });
  assert.ok(heads.entries.every(isHeadMaskEntry));
  const full = buildCatalog(6, 8, { seed: 1 });
  assert.deepEqual(full.entries.slice(0, heads.entries.length), heads.entries);
  assert.ok(full.entries.length > heads.entries.length);
});

test('catalog files round-trip; bad entries name the field', () => {
  const cat = buildCatalog(4, 4, { seed: 3 });
  const path = join(mkdtempSync(join(tmpdir(), 'catalog-')), 'catalog.json');
  saveCatalog(path, cat);
  assert.deepEqual(loadCatalog(path), cat);
  const bad = (entry: object) => () => parseCatalog({ version: 1, numLayers: 4, numHeads: 4, entries: [entry] }, 'c.json');
  assert.throws(bad({ id: 'x', kind: 'sublayer', heads: [], skipAttention: [4] }), /entries\.0\.skipAttention has layer 4/);
  assert.throws(bad({ id: 'x', kind: 'sublayer', heads: [] }), /skips no sublayer/);
  assert.throws(bad({ id: 'x', kind: 'single', heads: [[1, 1]], skipMlp: [2] }), /must mask heads and skip no sublayer/);
  assert.throws(bad({ id: 'x', kind: 'full', heads: [[1, 1]] }), /must skip nothing/);
  assert.throws(bad({ id: 'x', kind: 'lora', heads: [] }), /invalid field 'entries\.0\.kind'/);
});

test('entries combine with a skip core; fast mode keeps head masks the core still computes', () => {
  const cat = buildCatalog(4, 4, { seed: 3 });
  const core = { skipAttention: [3], skipMlp: [2], maskHeads: {} };
  const a1 = cat.entries.find((e) => e.id === 'a1')!;
  assert.deepEqual(entryPlan(a1, core), { skipAttention: [1, 3], skipMlp: [2], maskHeads: {} });
  const allowed = entriesForCore(cat.entries, core);
  for (const [i, e] of cat.entries.entries()) {
    const useful = isHeadMaskEntry(e) && e.heads.some(([l]) => l !== 3);
    assert.equal(allowed.has(i), useful, e.id);
  }
});

test('text features: one value per name, read from the prompt alone', () => {
  const f = textFeatures('Q: Ben has 343 flowers. He loses 50% of his flowers. Sara has 41 fewer flowers than Ben. She buys 3 packs of 12 flowers. How many?\nA:', 60);
  assert.equal(f.length, TEXT_FEATURE_COUNT);
  const get = (name: (typeof TEXT_FEATURE_NAMES)[number]) => f[TEXT_FEATURE_NAMES.indexOf(name)]!;
  assert.equal(get('numbers'), 5);
  assert.equal(get('max_digits'), 3);
  assert.equal(get('percent'), 1);
  assert.equal(get('comparison'), 1);
  assert.equal(get('groups_of'), 1);
  assert.ok(Math.abs(get('log_prompt_tokens') - Math.log(61)) < 1e-6);
  assert.deepEqual(textFeatures('Q: x\nA:', 3), textFeatures('Q: x\nA:', 3));
});
