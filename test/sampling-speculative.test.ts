// Speculative sampling's rule (src/sampling/speculative-sampling.ts): a draft token drawn from q,
// kept with probability min(1, p/q) and otherwise replaced by a draw from max(0, p - q), is
// distributed exactly as a draw from p, for drafts close to p, far from it, and with tokens q
// never proposes; positional uniforms are fixed by seed, position and purpose; samplingDistribution
// (temperature, top-k, top-p) is the distribution the plain sampler draws from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptOrResample, DRAW, drawFrom, positionalUniform } from '../src/sampling/speculative-sampling.ts';
import { sample, samplingDistribution } from '../src/sampling/sampler.ts';
import { Rng } from '../src/util/rng.ts';

const cases: [string, number[], number[]][] = [
  ['close', [0.5, 0.2, 0.15, 0.1, 0.05], [0.45, 0.25, 0.15, 0.1, 0.05]],
  ['far', [0.05, 0.05, 0.1, 0.3, 0.5], [0.6, 0.3, 0.05, 0.03, 0.02]],
  ['draft misses tokens', [0.3, 0.3, 0.2, 0.1, 0.1], [0.5, 0.5, 0, 0, 0]],
];

for (const [name, pArr, qArr] of cases) {
  test(`accept or resample is distributed as p (${name} draft)`, () => {
    const p = Float64Array.from(pArr);
    const q = Float64Array.from(qArr);
    const rng = new Rng(11);
    const N = 200_000;
    const counts = new Array(p.length).fill(0);
    let kept = 0;
    for (let i = 0; i < N; i++) {
      const d = drawFrom(q, rng.next());
      const r = acceptOrResample(p, q, d, rng.next(), rng.next());
      counts[r.token]++;
      if (r.accepted) kept++;
    }
    counts.forEach((c, t) => assert.ok(Math.abs(c / N - p[t]!) < 0.005, `token ${t}: ${c / N} vs ${p[t]}`));
    // Acceptance is sum min(p, q).
    const overlap = pArr.reduce((s, x, i) => s + Math.min(x, qArr[i]!), 0);
    assert.ok(Math.abs(kept / N - overlap) < 0.005, `${kept / N} vs ${overlap}`);
  });
}

const plainT = (T: number) => ({ temperature: T, topP: 1, topK: 0 });

test('tempered logits and positional uniforms', () => {
  const p = samplingDistribution(Float32Array.from([0, Math.log(3)]), plainT(1));
  assert.ok(Math.abs(p[0]! - 0.25) < 1e-6 && Math.abs(p[1]! - 0.75) < 1e-6);
  const cold = samplingDistribution(Float32Array.from([0, 1]), plainT(0.1));
  assert.ok(cold[1]! > 0.9999);
  const u = positionalUniform(7, 12, DRAW.accept);
  assert.equal(positionalUniform(7, 12, DRAW.accept), u);
  assert.notEqual(positionalUniform(7, 13, DRAW.accept), u);
  assert.notEqual(positionalUniform(7, 12, DRAW.residual), u);
  assert.notEqual(positionalUniform(8, 12, DRAW.accept), u);
  assert.ok(u >= 0 && u < 1);
  assert.equal(drawFrom(Float64Array.from([0, 0, 2]), 0.999), 2);
});

test('samplingDistribution is what the sampler draws from: top-k, top-p and both, small and large vocabularies', () => {
  const rng = new Rng(11);
  for (const [V, params] of [
    [40, { temperature: 0.8, topP: 0.7, topK: 0 }],
    [40, { temperature: 1.2, topP: 1, topK: 5 }],
    [40, { temperature: 0.7, topP: 0.6, topK: 12 }],
    [3000, { temperature: 0.9, topP: 0.9, topK: 0 }],
    [3000, { temperature: 0.7, topP: 1, topK: 50 }],
  ] as const) {
    const logits = Float32Array.from({ length: V }, () => 4 * rng.next() ** 3);
    const p = samplingDistribution(logits, params);
    assert.ok(Math.abs(p.reduce((s, x) => s + x, 0) - 1) < 1e-9);
    const kept = p.filter((x) => x > 0).length;
    if (params.topK) assert.ok(kept <= params.topK);
    const N = 60_000;
    const counts = new Map<number, number>();
    const draws = new Rng(3);
    for (let i = 0; i < N; i++) {
      const t = sample(logits, params, draws).token;
      assert.ok(p[t]! > 0, `drawn token ${t} is outside the distribution`);
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    // Total variation against what N draws from p show by chance (its expectation, about
    // sqrt(2 / pi) / 2 * sum sqrt(p (1 - p) / N)), with room.
    let tv = 0;
    let chance = 0;
    p.forEach((x, t) => {
      tv += Math.abs(x - (counts.get(t) ?? 0) / N) / 2;
      chance += (Math.sqrt(2 / Math.PI) / 2) * Math.sqrt((x * (1 - x)) / N);
    });
    assert.ok(tv < 1.3 * chance + 0.003, `V ${V} ${JSON.stringify(params)}: total variation ${tv} over ${kept} kept tokens (chance ${chance})`);
  }
});
