import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildCatalog } from '../router/catalog-build.ts';
import { encodeEmbedding, type PromptRecord } from '../router/calibrate.ts';
import { Rng } from '../src/util/rng.ts';
import { evaluateScores, fitSelector, planShares, splitRecords } from '../router/selector/fit.ts';

/** Records where questions of kind A are answered by plans 0-7 and kind B by plans 8-15. */
function records(count: number): PromptRecord[] {
  const rng = new Rng(3);
  const dim = 12;
  const centres = [0, 1].map(() => Float32Array.from({ length: dim }, () => rng.normal()));
  return Array.from({ length: count }, (_, i) => {
    const kind = i % 2;
    const e = Float32Array.from(centres[kind]!, (c) => c + 0.4 * rng.normal());
    const correct = Array.from({ length: 24 }, (_, j) => {
      const good = kind === 0 ? j < 8 : j >= 8 && j < 16;
      return rng.next() < (good ? 0.9 : 0.2) ? 1 : 0;
    });
    return { id: `q${i}`, kind: kind ? 'b' : 'a', embedding: encodeEmbedding(e), correct, fullCorrect: 1, tf: null, seconds: 0 };
  });
}

test('fit trains, exports an ONNX selector equal to the TypeScript one, and picks better plans than chance', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fit-'));
  const catalog = buildCatalog(3, 4, { seed: 1, crossPairs: 4 });
  const cat24 = { ...catalog, entries: [...catalog.entries, ...catalog.entries].slice(0, 24).map((e, i) => ({ ...e, id: `${e.id}#${i}` })) };
  const path = join(dir, 'selector.onnx');
  const { report } = await fitSelector(records(200), cat24, 1, path, { seed: 2, epochs: 40, hiddenDim: 16, embedDim: 8, learningRate: 1e-2 });
  assert.ok(existsSync(path));
  assert.ok(report.onnxMaxAbsDiff < 1e-5, `onnx diff ${report.onnxMaxAbsDiff}`);
  assert.ok(report.validationQuestions > 10 && report.trainQuestions > 100);
  assert.ok(report.selectorTopN > report.allPlans + 0.3, `selector ${report.selectorTopN} vs all ${report.allPlans}`);
  assert.ok(report.selectorTopN > report.staticTopN + 0.2, `selector ${report.selectorTopN} vs static ${report.staticTopN}`);
  const again = await fitSelector(records(200), cat24, 1, join(dir, 'again.onnx'), { seed: 2, epochs: 40, hiddenDim: 16, embedDim: 8, learningRate: 1e-2 });
  assert.deepEqual(again.report, report, 'same seed, same result');
});

/** Records whose embedding is noise; the prompt text says which plans answer (percent questions: plans 0-7). */
function textRecords(count: number): PromptRecord[] {
  const rng = new Rng(8);
  return Array.from({ length: count }, (_, i) => {
    const pct = i % 2 === 0;
    const prompt = pct ? `Q: Ann has ${10 + i} cards. She loses 50% of them. How many?\nA:` : `Q: Ann has ${10 + i} cards. She buys 3 more. How many?\nA:`;
    const answers = Array.from({ length: 24 }, (_, j) => ((pct ? j < 8 : j >= 8 && j < 16) === rng.next() < 0.9 ? '7' : String(j + 100)));
    return {
      id: `t${i}`, kind: 'x', embedding: encodeEmbedding(Float32Array.from({ length: 12 }, () => rng.normal())),
      prompt, promptTokens: 20 + (i % 3), answer: '7', answers, correct: answers.map((a) => (a === '7' ? 1 : 0)), fullCorrect: 1, tf: null, seconds: 0,
    };
  });
}

test('text features, Bradley-Terry and an ensemble: the selector learns what the embedding does not say', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fit-'));
  const catalog = buildCatalog(3, 4, { seed: 1, crossPairs: 4 });
  const cat24 = { ...catalog, entries: [...catalog.entries, ...catalog.entries].slice(0, 24).map((e, i) => ({ ...e, id: `${e.id}#${i}` })) };
  const base = { seed: 2, epochs: 40, hiddenDim: 16, embedDim: 8, learningRate: 1e-2, ns: [4, 8] };
  const without = await fitSelector(textRecords(200), cat24, 1, join(dir, 'a.onnx'), { ...base, features: false });
  const withText = await fitSelector(textRecords(200), cat24, 1, join(dir, 'b.onnx'), { ...base, ensemble: 3, loss: { infoNce: 1, pairwise: 1 } });
  assert.equal(withText.report.features, true);
  assert.equal(withText.report.ensemble, 3);
  assert.equal(withText.params.length, 3);
  assert.ok(withText.report.onnxMaxAbsDiff < 1e-5, `onnx diff ${withText.report.onnxMaxAbsDiff}`);
  assert.ok(withText.report.selectorTopN > without.report.selectorTopN + 0.3, `${withText.report.selectorTopN} vs ${without.report.selectorTopN}`);
  const v8 = withText.report.votes.find((v) => v.n === 8)!;
  assert.equal(v8.selector.n, withText.report.validationQuestions);
  assert.ok(v8.selector.p > 0.9 && v8.minusRandom.lo > 0, `maj@8 ${v8.selector.p}, selector - random ${v8.minusRandom.diff}`);
  assert.ok(v8.selector.lo <= v8.selector.p && v8.selector.p <= v8.selector.hi + 1e-12);
  assert.deepEqual(withText.report.votes.map((v) => v.n), [4, 8]);
});

test('per-kind static plans (a baseline without a model) are scored like the selector', () => {
  const catalog = buildCatalog(3, 4, { seed: 1, crossPairs: 4 });
  const cat24 = { ...catalog, entries: [...catalog.entries, ...catalog.entries].slice(0, 24).map((e, i) => ({ ...e, id: `${e.id}#${i}` })) };
  const all = records(200);
  const { train, val } = splitRecords(all, 2, 0.2);
  const byKind = new Map(['a', 'b'].map((k) => [k, planShares(train.filter((r) => r.kind === k), 24, 1)]));
  const f = evaluateScores((r) => byKind.get(r.kind!)!, train, val, cat24, 1, { seed: 2 });
  assert.ok(f.selectorTopN > 0.8 && f.selectorTopN > f.staticTopN + 0.2, `per kind ${f.selectorTopN} vs static ${f.staticTopN}`);
});
