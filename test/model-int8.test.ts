/**
 * int8 weights (`weights: 'int8'`): the block quantizer's error bound and layout, and the int8
 * runtime against the float64 reference on small random checkpoints under every plan shape.
 *
 * Tolerance: MatMulNBits (accuracy level 4) rounds each weight and each activation to 8 bits per
 * block of 32 (error at most 1/254 of the block's largest magnitude per element; llama.cpp's Q8_0
 * does the same), so logits move by about 1-2% of the largest logit on these random models
 * (measured: 1.2-1.9%). The test allows 5% of max(1, max |reference|), asserts the greedy token
 * wherever the reference's best two logits are further apart than twice that, and holds batched
 * and decode results to the float tolerance of the f32 runtime against the int8 runtime alone.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { loadLocalModel, type LocalModel } from '../src/model/local-model.ts';
import { dequantizeInt8, quantizeInt8 } from '../src/model/quantize-int8.ts';
import { ReferenceModel } from '../src/model/reference.ts';
import { FULL_PLAN, type SkipPlan } from '../src/plans/plan.ts';
import { Rng } from '../src/util/rng.ts';
import { maxAbsDiff } from './helpers/compare-logits.ts';
import { makeCheckpoint, type MakeCheckpointOptions } from '../testkit/make-checkpoint.ts';

const TOL = 0.05;
const KINDS: [string, MakeCheckpointOptions][] = [
  ['llama grouped-KV tied', { layers: 3, hidden: 64, heads: 4, kvHeads: 2, intermediate: 96, seed: 9 }],
  ['llama untied, K not a multiple of 32', { layers: 2, hidden: 48, heads: 4, kvHeads: 4, intermediate: 80, tied: false, seed: 2 }],
  ['qwen2 biases', { architecture: 'Qwen2ForCausalLM', layers: 3, heads: 4, kvHeads: 1, seed: 3 }],
];
const PLANS: [string, SkipPlan][] = [
  ['full', FULL_PLAN],
  ['skip attention 1', { skipAttention: [1], skipMlp: [], maskHeads: {} }],
  ['skip mlp 0', { skipAttention: [], skipMlp: [0], maskHeads: {} }],
  ['mask heads', { skipAttention: [], skipMlp: [], maskHeads: { 0: [1], 1: [0, 3] } }],
];
const PROMPT = [0, 17, 42, 99, 3, 250, 71, 8, 64, 120, 5, 33];

describe('int8 block quantizer', () => {
  it('stays within half a step of every weight and lays blocks out as MatMulNBits reads them', () => {
    const rng = new Rng(4);
    const rows = 5;
    const cols = 70; // three blocks, the last one short
    const w = Float32Array.from({ length: rows * cols }, () => rng.normal() * 0.2);
    w.fill(0, 0, 32); // an all-zero block
    const q = quantizeInt8(w, rows, cols, 32);
    assert.deepEqual([q.blocks, q.data.length, q.scales.length], [3, rows * 3 * 32, rows * 3]);
    const back = dequantizeInt8(q);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const s = q.scales[r * 3 + Math.floor(c / 32)];
        assert.ok(Math.abs(back[r * cols + c] - w[r * cols + c]) <= s / 2 + 1e-7, `w[${r},${c}]`);
      }
      for (let j = cols - 64; j < 32; j++) assert.equal(q.data[(r * 3 + 2) * 32 + j], 128, 'padding holds the zero point');
    }
    assert.equal(q.scales[0], 0);
    assert.ok(q.data.subarray(0, 32).every((x) => x === 128));
    let m = 0;
    for (let c = 32; c < 64; c++) m = Math.max(m, Math.abs(w[c]));
    assert.equal(q.scales[1], Math.fround(m / 127));
  });
});

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

for (const [kind, opts] of KINDS) {
  describe(`int8 weights: ${kind}`, () => {
    const dir = makeCheckpoint(opts);
    dirs.push(dir);
    const ref = new ReferenceModel(openCheckpoint(dir));
    let model: LocalModel;
    after(() => model?.close());

    it('prefill logits stay within tolerance of the float64 reference under every plan, with the same greedy tokens', async () => {
      model = await loadLocalModel({ modelDir: dir, threads: 1, weights: 'int8' });
      assert.equal(model.runtime.weights, 'int8');
      for (const [name, plan] of PLANS) {
        const seq = model.createSeq();
        const out = await model.step([{ seq, tokens: PROMPT, plan, logits: 'all' }]);
        model.freeSeq(seq);
        const want = ref.forward(PROMPT, plan);
        const V = want[0].length;
        let maxRef = 0;
        for (const row of want) for (const x of row) maxRef = Math.max(maxRef, Math.abs(x));
        const tol = TOL * Math.max(1, maxRef);
        want.forEach((row, t) => {
          const got = out.logits[0].subarray(t * V, (t + 1) * V);
          const err = maxAbsDiff(got, row);
          assert.ok(err <= tol, `${name} position ${t}: max |int8 - ref| = ${err.toFixed(4)} > ${tol.toFixed(4)}`);
          const order = [...row.keys()].sort((a, b) => row[b] - row[a]);
          if (row[order[0]] - row[order[1]] > 2 * tol) assert.equal(got.indexOf(Math.max(...got)), order[0], `${name} greedy token at ${t}`);
        });
      }
    });

    it('batched rows with different plans equal each row run alone; decode equals prefill', async () => {
      const alone: Float32Array[] = [];
      for (const [, plan] of PLANS) {
        const seq = model.createSeq();
        alone.push((await model.step([{ seq, tokens: PROMPT, plan, logits: 'last' }])).logits[0].slice());
        model.freeSeq(seq);
      }
      const seqs = PLANS.map(() => model.createSeq());
      const out = await model.step(seqs.map((seq, i) => ({ seq, tokens: PROMPT, plan: PLANS[i][1], logits: 'last' as const })));
      out.logits.forEach((l, i) => assert.ok(maxAbsDiff(l, alone[i]) <= 1e-4 * Math.max(1, ...alone[i].map(Math.abs)), `batched ${PLANS[i][0]}`));
      seqs.forEach((s) => model.freeSeq(s));
      const seq = model.createSeq();
      await model.step([{ seq, tokens: PROMPT.slice(0, -1), plan: FULL_PLAN, logits: 'last' }]);
      const dec = await model.step([{ seq, tokens: PROMPT.slice(-1), plan: FULL_PLAN, logits: 'last' }]);
      assert.ok(maxAbsDiff(dec.logits[0], alone[0]) <= 5e-3 * Math.max(1, ...alone[0].map(Math.abs)), 'decode after prefill');
      model.freeSeq(seq);
    });
  });
}
