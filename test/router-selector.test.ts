import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildCatalog } from '../router/catalog-build.ts';
import { Rng } from '../src/util/rng.ts';
import { selectorToOnnx } from '../router/selector/export-onnx.ts';
import { ensembleScores, forward, initSelector, scorePlans, selectorInput } from '../router/selector/model.ts';
import { TEXT_FEATURE_COUNT, textFeatures } from '../src/router/text-features.ts';
import { topN } from '../src/router/selector-session.ts';
import { SelectorSession } from '../src/router/selector-session.ts';
import { exampleLoss, trainSelector, zeroGrads, type SelectorExample } from '../router/selector/train.ts';

function randomVec(rng: Rng, n: number, scale = 1): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal() * scale;
  return v;
}

for (const [name, weights] of [
  ['InfoNCE', { infoNce: 1, pairwise: 0 }],
  ['Bradley-Terry', { infoNce: 0, pairwise: 1, pairwiseTemperature: 0.3 }],
  ['InfoNCE + Bradley-Terry', { infoNce: 0.7, pairwise: 1.5 }],
] as const) {
  for (const planBias of [false, true]) {
    test(`${name} gradients match finite differences${planBias ? ' (with a plan prior)' : ''}`, () => {
      const p = initSelector({ inputDim: 6, hiddenDim: 5, embedDim: 4, numPlans: 7 }, 3, 0.5, planBias);
      const rng = new Rng(9);
      p.inputMean = randomVec(rng, 6, 0.1);
      if (p.bias) p.bias.set(randomVec(rng, 7, 0.3));
      const ex: SelectorExample = { embedding: randomVec(rng, 6), positives: [1, 4] };
      const g = zeroGrads(p);
      exampleLoss(p, ex, g, 1, undefined, weights);
      for (const key of ['w1', 'b1', 'w2', 'b2', 'plans', ...(planBias ? (['bias'] as const) : [])] as const) {
        const w = p[key]!;
        for (const i of [0, 3, w.length - 1]) {
          const old = w[i]!;
          const h = 1e-3;
          w[i] = old + h;
          const up = exampleLoss(p, ex, undefined, 1, undefined, weights);
          w[i] = old - h;
          const down = exampleLoss(p, ex, undefined, 1, undefined, weights);
          w[i] = old;
          const numeric = (up - down) / (2 * h);
          assert.ok(Math.abs(numeric - g[key][i]!) < 2e-3 * Math.max(1, Math.abs(numeric)), `${key}[${i}]: ${numeric} vs ${g[key][i]}`);
        }
      }
    });
  }
}

test('a plan prior learns what holds on every question: the plan right most often leads where the input says nothing', () => {
  // Inputs carry no signal; plan 3 is right on 90% of the questions, every other plan on 30%.
  const rng = new Rng(21);
  const examples: SelectorExample[] = Array.from({ length: 120 }, () => ({
    embedding: randomVec(rng, 8),
    positives: Array.from({ length: 6 }, (_, j) => j).filter((j) => rng.next() < (j === 3 ? 0.9 : 0.3)),
  }));
  const p = trainSelector(examples, 6, { seed: 2, epochs: 20, hiddenDim: 8, embedDim: 4, learningRate: 1e-2, planBias: true });
  assert.equal(p.bias!.length, 6);
  assert.equal(topN(p.bias!, 1)[0], 3);
  const held = Array.from({ length: 20 }, () => randomVec(rng, 8));
  const firsts = held.filter((x) => topN(scorePlans(p, x), 1)[0] === 3).length;
  assert.ok(firsts >= 15, `plan 3 first on ${firsts} of 20 new questions`);
  assert.equal(trainSelector(examples, 6, { seed: 2, epochs: 1, hiddenDim: 8, embedDim: 4 }).bias, undefined);
});

test('explicit plan pairs (an APT round): Bradley-Terry gradients over the given pairs only match finite differences', () => {
  const p = initSelector({ inputDim: 6, hiddenDim: 5, embedDim: 4, numPlans: 7 }, 3, 0.5);
  const rng = new Rng(11);
  const ex: SelectorExample = { embedding: randomVec(rng, 6), positives: [], pairs: [[2, 5], [2, 0], [6, 5]] };
  const g = zeroGrads(p);
  exampleLoss(p, ex, g, 1, undefined, { infoNce: 1, pairwise: 1, pairwiseTemperature: 0.4 });
  // Plans never tried (1, 3, 4) get no gradient: their labels are unknown.
  for (const j of [1, 3, 4]) for (let k = 0; k < 4; k++) assert.equal(g.plans[j * 4 + k], 0);
  for (const key of ['w1', 'plans'] as const) {
    for (const i of [0, 8, p[key].length - 1]) {
      const old = p[key][i]!;
      const h = 1e-3;
      p[key][i] = old + h;
      const up = exampleLoss(p, ex, undefined, 1, undefined, { pairwise: 1, pairwiseTemperature: 0.4 });
      p[key][i] = old - h;
      const down = exampleLoss(p, ex, undefined, 1, undefined, { pairwise: 1, pairwiseTemperature: 0.4 });
      p[key][i] = old;
      const numeric = (up - down) / (2 * h);
      assert.ok(Math.abs(numeric - g[key][i]!) < 2e-3 * Math.max(1, Math.abs(numeric)), `${key}[${i}]: ${numeric} vs ${g[key][i]}`);
    }
  }
});

test('training on plan pairs alone learns which plan answers which kind of question', () => {
  // Only two plans tried per question, as an APT round's weakness cases have them: cluster A
  // prefers plan 3 over plan 4, cluster B the opposite.
  const rng = new Rng(2);
  const centreA = randomVec(rng, 12);
  const centreB = randomVec(rng, 12);
  const examples: SelectorExample[] = [];
  for (let i = 0; i < 60; i++) {
    const a = i % 2 === 0;
    const x = randomVec(rng, 12, 0.3);
    for (let k = 0; k < 12; k++) x[k] += (a ? centreA : centreB)[k]!;
    examples.push({ embedding: x, positives: [], pairs: [a ? [3, 4] : [4, 3]] });
  }
  const p = trainSelector(examples, 6, { seed: 1, epochs: 40, hiddenDim: 12, embedDim: 6, learningRate: 1e-2, loss: { pairwise: 1 } });
  const sA = scorePlans(p, centreA);
  const sB = scorePlans(p, centreB);
  assert.ok(sA[3]! > sA[4]!, `A: ${sA[3]} vs ${sA[4]}`);
  assert.ok(sB[4]! > sB[3]!, `B: ${sB[4]} vs ${sB[3]}`);
});

test('the Bradley-Terry loss falls as right plans outrank wrong ones', () => {
  const p = initSelector({ inputDim: 4, hiddenDim: 4, embedDim: 3, numPlans: 2 }, 1, 0.5);
  const x = Float32Array.from([1, 0, 0, 0]);
  const s = forward(p, x).scores;
  const right = s[0]! > s[1]! ? 0 : 1;
  const bt = { infoNce: 0, pairwise: 1 };
  assert.ok(exampleLoss(p, { embedding: x, positives: [right] }, undefined, 1, undefined, bt) < exampleLoss(p, { embedding: x, positives: [1 - right] }, undefined, 1, undefined, bt));
});

test('training is seeded and learns a question-dependent choice', () => {
  // Two clusters of questions; cluster A is answered by plans 0-2, cluster B by plans 5-7.
  const rng = new Rng(1);
  const centreA = randomVec(rng, 16);
  const centreB = randomVec(rng, 16);
  const examples: SelectorExample[] = [];
  for (let i = 0; i < 80; i++) {
    const a = i % 2 === 0;
    const x = randomVec(rng, 16, 0.3);
    const c = a ? centreA : centreB;
    for (let k = 0; k < 16; k++) x[k] += c[k]!;
    examples.push({ embedding: x, positives: a ? [0, 1, 2] : [5, 6, 7] });
  }
  const opts = { seed: 4, epochs: 30, hiddenDim: 16, embedDim: 8, learningRate: 1e-2 };
  const p1 = trainSelector(examples, 10, opts);
  const p2 = trainSelector(examples, 10, opts);
  assert.deepEqual(p1.plans, p2.plans);
  assert.deepEqual(p1.w1, p2.w1);
  const top = (x: Float32Array): number[] => topN(scorePlans(p1, x), 3).sort();
  assert.deepEqual(top(centreA), [0, 1, 2]);
  assert.deepEqual(top(centreB), [5, 6, 7]);
  const p3 = trainSelector(examples, 10, { ...opts, seed: 5 });
  assert.notDeepEqual(p3.w1, p1.w1);
});

test('topN returns distinct indices in score order and honours exclusions', () => {
  const s = new Float32Array([0.1, 0.9, 0.5, 0.9, -1]);
  assert.deepEqual(topN(s, 3), [1, 3, 2]);
  assert.deepEqual(topN(s, 2, new Set([1])), [3, 2]);
  assert.deepEqual(topN(s, 10).length, 5);
});

test('ONNX selector scores equal the TypeScript scores', async () => {
  const cat = buildCatalog(3, 4, { seed: 2 });
  const p = initSelector({ inputDim: 24, hiddenDim: 12, embedDim: 8, numPlans: cat.entries.length }, 11);
  const rng = new Rng(5);
  p.inputMean = randomVec(rng, 24, 0.5);
  p.inputStd = Float32Array.from(randomVec(rng, 24), (v) => 0.5 + Math.abs(v));
  const dir = mkdtempSync(join(tmpdir(), 'selector-'));
  const path = join(dir, 'selector.onnx');
  writeFileSync(path, selectorToOnnx(p));
  const session = await SelectorSession.load(path, cat, 24);
  const xs = Array.from({ length: 5 }, () => randomVec(rng, 24, 2));
  const got = await session.score(xs);
  for (let i = 0; i < xs.length; i++) {
    const want = forward(p, xs[i]!).scores;
    assert.equal(got[i]!.length, cat.entries.length);
    for (let j = 0; j < want.length; j++) assert.ok(Math.abs(got[i]![j]! - want[j]!) < 1e-5, `row ${i} plan ${j}: ${got[i]![j]} vs ${want[j]}`);
    assert.deepEqual(topN(got[i]!, 4), topN(want, 4));
  }
  await assert.rejects(SelectorSession.load(path, cat, 23), /24|23/);
  await assert.rejects(SelectorSession.load(join(dir, 'missing.onnx'), cat, 24), /not found/);
  assert.equal(session.featureDim, 0);
  await session.close();
});

test('ONNX ensemble with text features and plan priors equals the TypeScript ensemble', async () => {
  const cat = buildCatalog(3, 4, { seed: 2 });
  const F = TEXT_FEATURE_COUNT;
  const rng = new Rng(6);
  const members = [11, 12, 13].map((seed) => {
    const p = initSelector({ inputDim: 24 + F, featureDim: F, hiddenDim: 12, embedDim: 8, numPlans: cat.entries.length }, seed);
    p.inputMean = randomVec(rng, 24 + F, 0.5);
    p.inputStd = Float32Array.from(randomVec(rng, 24 + F), (v) => 0.5 + Math.abs(v));
    p.bias = randomVec(rng, cat.entries.length, 0.2); // a plan prior is part of the exported scores
    return p;
  });
  const dir = mkdtempSync(join(tmpdir(), 'selector-'));
  const path = join(dir, 'selector.onnx');
  writeFileSync(path, selectorToOnnx(members));
  assert.throws(() => selectorToOnnx([members[0]!, { ...members[1]!, bias: undefined }]), /plan prior/);
  const session = await SelectorSession.load(path, cat, 24);
  assert.equal(session.featureDim, F);
  const prompts = ['Q: Tom has 5 apples. He gets 50% more apples. How many apples does Tom have now?\nA:', 'Q: Ann has 1200 cards. She splits them into 4 equal groups. How many?\nA:'];
  const xs = prompts.map(() => randomVec(rng, 24, 2));
  const fs = prompts.map((t, i) => textFeatures(t, 20 + i));
  const got = await session.score(xs, fs);
  for (let i = 0; i < xs.length; i++) {
    const want = ensembleScores(members, selectorInput(xs[i]!, fs[i]!));
    for (let j = 0; j < want.length; j++) assert.ok(Math.abs(got[i]![j]! - want[j]!) < 1e-5, `row ${i} plan ${j}: ${got[i]![j]} vs ${want[j]}`);
  }
  await assert.rejects(session.score(xs), /text features/);
  await session.close();
  await assert.rejects(SelectorSession.load(path, cat, 24, F + 1), /text features/);
});
