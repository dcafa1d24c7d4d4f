/**
 * onnxruntime logits vs the float64 reference on small random checkpoints of every supported
 * kind, under every plan shape: full, skipped attention / MLP / layer, masked heads, mixed batches.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { embeddingPlan } from '../src/engine/engine.ts';
import { rmSync } from 'node:fs';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { loadLocalModel, type LocalModel } from '../src/model/local-model.ts';
import { CORE_GRAPH_AFTER, RECENT_STEPS } from '../src/model/graph-sessions.ts';
import { ReferenceModel } from '../src/model/reference.ts';
import { FULL_PLAN, type SkipPlan } from '../src/plans/plan.ts';
import { assertCloseToRef, maxAbsDiff } from './helpers/compare-logits.ts';
import { makeCheckpoint, type MakeCheckpointOptions } from '../testkit/make-checkpoint.ts';

const KINDS: [string, MakeCheckpointOptions][] = [
  ['llama grouped-KV tied F32 single-file', { layers: 3, heads: 4, kvHeads: 2, tied: true, dtype: 'F32' }],
  ['llama ungrouped untied BF16 sharded', { layers: 3, heads: 4, kvHeads: 4, tied: false, dtype: 'BF16', shards: 3, seed: 2 }],
  ['qwen2 biases F16', { architecture: 'Qwen2ForCausalLM', layers: 3, heads: 4, kvHeads: 1, dtype: 'F16', seed: 3 }],
  ['llama3 rope_scaling, explicit head_dim', { layers: 3, hidden: 32, heads: 2, kvHeads: 1, headDim: 24, llama3Rope: true, seed: 4 }],
  ['mistral', { architecture: 'MistralForCausalLM', layers: 3, heads: 4, kvHeads: 2, seed: 5 }],
];

const PLANS: [string, SkipPlan][] = [
  ['full', FULL_PLAN],
  ['skip attention 1', { skipAttention: [1], skipMlp: [], maskHeads: {} }],
  ['skip mlp 0', { skipAttention: [], skipMlp: [0], maskHeads: {} }],
  ['skip layer 2', { skipAttention: [2], skipMlp: [2], maskHeads: {} }],
  ['mask heads', { skipAttention: [], skipMlp: [], maskHeads: { 0: [1], 2: [0, 1] } }],
];

const PROMPT = [0, 17, 42, 99, 3, 250, 71, 8, 64, 120, 5, 33];
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

for (const [kind, opts] of KINDS) {
  describe(kind, () => {
    const dir = makeCheckpoint(opts);
    dirs.push(dir);
    const ref = new ReferenceModel(openCheckpoint(dir));
    let model: LocalModel;
    after(() => model?.close());

    it('prefill logits match the reference under every plan', async () => {
      model = await loadLocalModel({ modelDir: dir, threads: 1 });
      for (const [name, plan] of PLANS) {
        const seq = model.createSeq();
        const out = await model.step([{ seq, tokens: PROMPT, plan, logits: 'all' }]);
        assertCloseToRef(out.logits[0], ref.forward(PROMPT, plan), `${kind} / ${name}`);
        model.freeSeq(seq);
      }
    });

    it('decode after prefill equals the reference on the longer prompt', async () => {
      const plan = PLANS[4][1];
      const seq = model.createSeq();
      await model.step([{ seq, tokens: PROMPT.slice(0, 7), plan, logits: 'last' }]);
      for (let t = 7; t < PROMPT.length; t++) {
        const out = await model.step([{ seq, tokens: [PROMPT[t]], plan, logits: 'last' }]);
        const full = ref.forward(PROMPT.slice(0, t + 1), plan);
        assertCloseToRef(out.logits[0], [full[t]], `${kind} decode at ${t}`);
      }
      assert.equal(model.seqLength(seq), PROMPT.length);
      model.freeSeq(seq);
    });
  });
}

describe('batches', () => {
  const dir = makeCheckpoint({ layers: 4, heads: 4, kvHeads: 2, seed: 9 });
  dirs.push(dir);
  const ref = new ReferenceModel(openCheckpoint(dir));
  let model: LocalModel;
  after(() => model?.close());
  const plans: SkipPlan[] = [
    FULL_PLAN,
    { skipAttention: [1], skipMlp: [3], maskHeads: { 0: [2] } },
    { skipAttention: [0, 2], skipMlp: [2], maskHeads: {} },
    { skipAttention: [], skipMlp: [1], maskHeads: { 1: [0, 1, 2, 3] } },
  ];
  const prompts = [PROMPT, PROMPT.slice(0, 5), PROMPT.slice(3, 12), [7, 7, 8]];

  it('a mixed-plan prefill batch gives each row what it gets alone', async () => {
    model = await loadLocalModel({ modelDir: dir, threads: 1 });
    const seqs = plans.map(() => model.createSeq());
    const batch = await model.step(plans.map((plan, i) => ({ seq: seqs[i], tokens: prompts[i], plan, logits: 'all' as const })));
    for (let i = 0; i < plans.length; i++) {
      const alone = model.createSeq();
      const single = await model.step([{ seq: alone, tokens: prompts[i], plan: plans[i], logits: 'all' }]);
      assert.ok(maxAbsDiff(batch.logits[i], single.logits[0]) <= 1e-4, `row ${i}: batched != alone`);
      assertCloseToRef(batch.logits[i], ref.forward(prompts[i], plans[i]), `row ${i} vs reference`);
    }
  });

  it('decode rows of different lengths and plans batch together, mixed with a prefill row', async () => {
    const seqs = plans.map(() => model.createSeq());
    await model.step(plans.map((plan, i) => ({ seq: seqs[i], tokens: prompts[i], plan, logits: 'last' as const })));
    const hist = prompts.map((p) => [...p]);
    const late = model.createSeq();
    for (let step = 0; step < 3; step++) {
      const next = [11 + step, 200 - step, 5 * step + 1, 99];
      const rows = plans.map((plan, i) => ({ seq: seqs[i], tokens: [next[i]], plan, logits: 'last' as const }));
      const withPrefill = step === 1 ? [...rows, { seq: late, tokens: PROMPT.slice(0, 6), plan: plans[1], logits: 'last' as const }] : rows;
      const out = await model.step(withPrefill);
      for (let i = 0; i < plans.length; i++) {
        hist[i].push(next[i]);
        const full = ref.forward(hist[i], plans[i]);
        assertCloseToRef(out.logits[i], [full[full.length - 1]], `step ${step} row ${i}`);
      }
      if (step === 1) assertCloseToRef(out.logits[4], [ref.forward(PROMPT.slice(0, 6), plans[1])[5]], 'prefill row in a decode step');
    }
  });

  it('reused staging buffers (new group, same shape) never leak another sequence into a row', async () => {
    const skipping: SkipPlan = { skipAttention: [1, 3], skipMlp: [], maskHeads: {} };
    const [s1, s2] = [model.createSeq(), model.createSeq()];
    await model.step([{ seq: s1, tokens: PROMPT, plan: FULL_PLAN, logits: 'last' }, { seq: s2, tokens: PROMPT, plan: FULL_PLAN, logits: 'last' }]);
    await model.step([{ seq: s1, tokens: [4], plan: FULL_PLAN, logits: 'last' }, { seq: s2, tokens: [5], plan: FULL_PLAN, logits: 'last' }]);
    const [s3, s4] = [model.createSeq(), model.createSeq()];
    const p3 = PROMPT.slice(0, 10);
    const p4 = PROMPT.slice(2, 9);
    await model.step([{ seq: s3, tokens: p3, plan: skipping, logits: 'last' }, { seq: s4, tokens: p4, plan: FULL_PLAN, logits: 'last' }]);
    for (const s of [s1, s2]) model.freeSeq(s);
    const out = await model.step([{ seq: s3, tokens: [6], plan: skipping, logits: 'last' }, { seq: s4, tokens: [7], plan: FULL_PLAN, logits: 'last' }]);
    assertCloseToRef(out.logits[0], [ref.forward([...p3, 6], skipping)[p3.length]], 'skipping row after reuse');
    assertCloseToRef(out.logits[1], [ref.forward([...p4, 7], FULL_PLAN)[p4.length]], 'full row after reuse');
  });

  it('router embedding is returned only when asked and is the same batched or alone', async () => {
    const a = model.createSeq();
    const b = model.createSeq();
    const out = await model.step([
      { seq: a, tokens: PROMPT, plan: FULL_PLAN, logits: 'last', embed: true },
      { seq: b, tokens: PROMPT.slice(0, 4), plan: FULL_PLAN, logits: 'last' },
    ]);
    assert.equal(out.embeddings[1], null);
    assert.equal(out.embeddings[0]!.length, model.info.hiddenSize);
    const c = model.createSeq();
    const alone = await model.step([{ seq: c, tokens: PROMPT, plan: FULL_PLAN, logits: 'last', embed: true }]);
    assert.ok(maxAbsDiff(out.embeddings[0]!, alone.embeddings[0]!) <= 1e-4);
    assert.ok(out.embeddings[0]!.some((x) => x !== 0));
    // The engine's embedding prefill skips the layers above the embedding: the same embedding.
    const d = model.createSeq();
    const plan = embeddingPlan(model.info);
    assert.ok(plan.skipAttention.length > 0 && plan.skipAttention[0] === model.info.embedLayer);
    const short = await model.step([{ seq: d, tokens: PROMPT, plan, logits: 'none', embed: true }]);
    assert.ok(maxAbsDiff(short.embeddings[0]!, alone.embeddings[0]!) <= 1e-5);
    for (const s of [a, b, c, d]) model.freeSeq(s);
  });

  it('a sequence cannot start computing attention its prefill skipped', async () => {
    const s = model.createSeq();
    await model.step([{ seq: s, tokens: [1, 2, 3], plan: { skipAttention: [1], skipMlp: [], maskHeads: {} }, logits: 'last' }]);
    await assert.rejects(model.step([{ seq: s, tokens: [4], plan: FULL_PLAN, logits: 'last' }]), /no KV for layer 1/);
  });
});

describe('dense path', () => {
  it('a skipping row moves between the switched graph (alone) and the masked one (beside a full row) with the reference logits, as without the dense path', async () => {
    const dir = makeCheckpoint({ layers: 3, heads: 4, kvHeads: 2, seed: 21 });
    dirs.push(dir);
    const ref = new ReferenceModel(openCheckpoint(dir));
    const skipping: SkipPlan = { skipAttention: [0], skipMlp: [2], maskHeads: { 1: [3] } };
    const models = [await loadLocalModel({ modelDir: dir, threads: 1 }), await loadLocalModel({ modelDir: dir, threads: 1, densePath: false })];
    try {
      const outputs: Float32Array[][] = [];
      for (const model of models) {
        const seq = model.createSeq();
        const full = model.createSeq();
        const hist = PROMPT.slice(0, 6);
        const fullHist = PROMPT.slice(2, 9);
        const got: Float32Array[] = [];
        // prefill: the skipping row alone (switched), the full row alone (masked graph, embedding too).
        got.push((await model.step([{ seq, tokens: hist, plan: skipping, logits: 'last' }])).logits[0]);
        const f = await model.step([{ seq: full, tokens: fullHist, plan: FULL_PLAN, logits: 'last', embed: true }]);
        got.push(f.logits[0], f.embeddings[0]!);
        for (const [tok, together] of [[9, false], [31, true], [2, false], [17, true]] as const) {
          hist.push(tok);
          const rows = [{ seq, tokens: [tok], plan: skipping, logits: 'last' as const }];
          if (together) rows.push({ seq: full, tokens: [tok], plan: FULL_PLAN, logits: 'last' as const });
          const out = await model.step(rows);
          const want = ref.forward(hist, skipping);
          assertCloseToRef(out.logits[0], [want[want.length - 1]], `skipping row, ${hist.length} tokens${together ? ', beside a full row' : ', alone'}`);
          got.push(out.logits[0]);
          if (!together) continue;
          fullHist.push(tok);
          const wantFull = ref.forward(fullHist, FULL_PLAN);
          assertCloseToRef(out.logits[1], [wantFull[wantFull.length - 1]], 'the full row');
          got.push(out.logits[1]);
        }
        outputs.push(got);
      }
      outputs[0].forEach((x, i) => assert.ok(maxAbsDiff(x, outputs[1][i]) <= 1e-4, `output ${i}: dense path != switched only`));
    } finally {
      for (const m of models) await m.close();
    }
  });

  it("a full-plan step asked for the switched graph runs it, with the dense path's logits", async () => {
    const dir = makeCheckpoint({ layers: 2, heads: 4, kvHeads: 2, seed: 22 });
    dirs.push(dir);
    const model = await loadLocalModel({ modelDir: dir, threads: 1 });
    try {
      const [a, b] = [model.createSeq(), model.createSeq()];
      const dense = await model.step([{ seq: a, tokens: PROMPT, plan: FULL_PLAN, logits: 'all' }]);
      const switched = await model.step([{ seq: b, tokens: PROMPT, plan: FULL_PLAN, logits: 'all' }], { graph: 'switched' });
      assert.ok(maxAbsDiff(dense.logits[0], switched.logits[0]) <= 1e-4);
      const d2 = await model.step([{ seq: a, tokens: [5], plan: FULL_PLAN, logits: 'last' }], { graph: 'switched' });
      const s2 = await model.step([{ seq: b, tokens: [5], plan: FULL_PLAN, logits: 'last' }]);
      assert.ok(maxAbsDiff(d2.logits[0], s2.logits[0]) <= 1e-4);
    } finally {
      await model.close();
    }
  });
});

describe('core graphs', () => {
  it('a skip core the batch shares gets its own graph after a few steps, with the reference logits; a graph out of recent use is released for another', async () => {
    const dir = makeCheckpoint({ layers: 4, heads: 4, kvHeads: 2, seed: 23, maxPositions: 256 });
    dirs.push(dir);
    const ref = new ReferenceModel(openCheckpoint(dir));
    const cores: SkipPlan[] = [
      { skipAttention: [1], skipMlp: [2, 3], maskHeads: {} },
      { skipAttention: [0, 2], skipMlp: [], maskHeads: { 3: [1] } },
    ];
    const model = await loadLocalModel({ modelDir: dir, threads: 1, coreGraphs: 1 });
    try {
      const steps = RECENT_STEPS + CORE_GRAPH_AFTER + 4;
      for (const [c, plan] of [cores[0], cores[1], cores[0]].entries()) {
        const seqs = [model.createSeq(), model.createSeq()];
        const hist = [PROMPT.slice(0, 5), PROMPT.slice(4, 11)];
        await model.step(seqs.map((seq, i) => ({ seq, tokens: hist[i], plan, logits: 'last' as const })));
        const used: string[] = [];
        let buildMs = 0;
        for (let t = 0; t < steps; t++) {
          const tok = [(t * 13 + 7) % 250, (t * 29 + 3) % 250];
          const out = await model.step(seqs.map((seq, i) => ({ seq, tokens: [tok[i]], plan, logits: 'last' as const })));
          used.push(...out.graphs);
          buildMs += out.buildMs;
          hist.forEach((h, i) => h.push(tok[i]));
          if (t % 8 !== 7 && t !== steps - 1) continue;
          hist.forEach((h, i) => {
            const want = ref.forward(h, plan);
            assertCloseToRef(out.logits[i], [want[want.length - 1]], `core ${c}, step ${t}, row ${i} (${out.graphs})`);
          });
        }
        assert.equal(used[0], 'switched', 'a new core starts on the switched graph');
        assert.equal(used.at(-1), 'core', `core ${c} ends on its own graph`);
        assert.ok(buildMs > 0, 'a step reports the build it waited for');
        seqs.forEach((s) => model.freeSeq(s));
      }
      const stats = model.sessions.coreStats;
      assert.equal(stats.built, 3);
      assert.equal(stats.evicted, 2, 'one core graph kept: each new core released the other');
      assert.ok(stats.deferred > 0, 'not while the other was in recent use');
      assert.equal(stats.failed, 0);
    } finally {
      await model.close();
    }
  });
});

describe('prepared core graphs', () => {
  it('a core prepared ahead runs on its own graph from its first step, with the reference logits and no build charged; no room, no graph', async () => {
    const dir = makeCheckpoint({ layers: 4, heads: 4, kvHeads: 2, seed: 24, maxPositions: 256 });
    dirs.push(dir);
    const ref = new ReferenceModel(openCheckpoint(dir));
    const plan: SkipPlan = { skipAttention: [2], skipMlp: [1, 3], maskHeads: {} };
    const model = await loadLocalModel({ modelDir: dir, threads: 1, coreGraphs: 1 });
    try {
      assert.equal(await model.prepareCores([{ attention: [], mlp: [] }]), 0, 'an empty core has nothing to build');
      assert.equal(await model.prepareCores([{ attention: [2], mlp: [3, 1] }, { attention: [1], mlp: [] }]), 1, 'the second finds no room (limit 1)');
      assert.equal(model.sessions.coreStats.built, 1);
      const seqs = [model.createSeq(), model.createSeq()];
      const hist = [PROMPT.slice(0, 5), PROMPT.slice(4, 11)];
      await model.step(seqs.map((seq, i) => ({ seq, tokens: hist[i], plan, logits: 'last' as const })));
      for (let t = 0; t < 3; t++) {
        const tok = [(t * 13 + 7) % 250, (t * 29 + 3) % 250];
        const out = await model.step(seqs.map((seq, i) => ({ seq, tokens: [tok[i]], plan, logits: 'last' as const })));
        assert.deepEqual(out.graphs, ['core'], `step ${t} runs on the prepared graph`);
        assert.equal(out.buildMs, 0);
        hist.forEach((h, i) => {
          h.push(tok[i]);
          const want = ref.forward(h, plan);
          assertCloseToRef(out.logits[i], [want[want.length - 1]], `prepared core, step ${t}, row ${i}`);
        });
      }
      assert.equal(model.sessions.coreStats.built, 1, 'nothing built on use');
    } finally {
      await model.close();
    }
  });
});

describe('router embedding layer and limits', () => {
  it('embedLayer 0 pools the token embeddings themselves; maxBatch is enforced', async () => {
    const dir = makeCheckpoint({ layers: 2, seed: 12 });
    dirs.push(dir);
    const model = await loadLocalModel({ modelDir: dir, threads: 1, embedLayer: 0, maxBatch: 2 });
    try {
      const emb = openCheckpoint(dir).read('model.embed_tokens.weight');
      const toks = [3, 50, 7, 7];
      const s = model.createSeq();
      const out = await model.step([{ seq: s, tokens: toks, plan: FULL_PLAN, logits: 'last', embed: true }]);
      const H = model.info.hiddenSize;
      const want = Array.from({ length: H }, (_, i) => toks.reduce((a, t) => a + emb[t * H + i], 0) / toks.length);
      assert.ok(maxAbsDiff(out.embeddings[0]!, want) <= 1e-5);
      const rows = [model.createSeq(), model.createSeq(), model.createSeq()].map((seq) => ({ seq, tokens: [1], plan: FULL_PLAN, logits: 'last' as const }));
      await assert.rejects(model.step(rows), /batch of 3 rows exceeds maxBatch 2/);
    } finally {
      await model.close();
    }
  });
});
