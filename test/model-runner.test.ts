/**
 * The worker-thread runner: loading, fork (shared prefill), free, lengths, errors through the
 * worker, greedy determinism, and a clean shutdown that leaves no worker keeping Node alive.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadRunner } from '../src/model/runner.ts';
import type { ModelRunner } from '../src/model/runner-types.ts';
import { FULL_PLAN, type SkipPlan } from '../src/plans/plan.ts';
import { maxAbsDiff } from './helpers/compare-logits.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

async function greedy(r: ModelRunner, prompt: number[], plan: SkipPlan, n: number): Promise<number[]> {
  const seq = await r.createSeq();
  let out = await r.step([{ seq, tokens: prompt, plan, logits: 'last' }]);
  const toks: number[] = [];
  for (let i = 0; i < n; i++) {
    toks.push(argmax(out.logits[0]));
    out = await r.step([{ seq, tokens: [toks[i]], plan, logits: 'last' }]);
  }
  await r.freeSeq(seq);
  return toks;
}

describe('worker runner', () => {
  const dir = makeCheckpoint({ layers: 3, seed: 21 });
  let runner: ModelRunner;
  before(async () => {
    runner = await loadRunner({ modelDir: dir, threads: 1, maxBatch: 8 });
  });
  after(async () => {
    await runner.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports the model shape', () => {
    assert.equal(runner.info.numLayers, 3);
    assert.equal(runner.info.vocabSize, 272);
    assert.deepEqual(runner.info.eosTokenIds, [1]);
  });

  it('greedy generation is deterministic', async () => {
    const a = await greedy(runner, [0, 5, 6, 7], FULL_PLAN, 8);
    const b = await greedy(runner, [0, 5, 6, 7], FULL_PLAN, 8);
    assert.deepEqual(a, b);
    assert.equal(a.length, 8);
  });

  it('forked children continue exactly like the parent would', async () => {
    const parent = await runner.createSeq();
    await runner.step([{ seq: parent, tokens: [0, 9, 8, 7, 6], plan: FULL_PLAN, logits: 'last' }]);
    const kids = await runner.forkSeq(parent, 3);
    assert.deepEqual(kids.map((k) => runner.seqLength(k)), [5, 5, 5]);
    const masked: SkipPlan = { skipAttention: [], skipMlp: [], maskHeads: { 1: [0] } };
    const out = await runner.step([
      { seq: kids[0], tokens: [42], plan: FULL_PLAN, logits: 'last' },
      { seq: kids[1], tokens: [42], plan: masked, logits: 'last' },
      { seq: kids[2], tokens: [42], plan: FULL_PLAN, logits: 'last' },
    ]);
    const solo = await runner.step([{ seq: parent, tokens: [42], plan: FULL_PLAN, logits: 'last' }]);
    assert.ok(maxAbsDiff(out.logits[0], solo.logits[0]) <= 1e-4);
    assert.ok(maxAbsDiff(out.logits[2], solo.logits[0]) <= 1e-4);
    assert.ok(maxAbsDiff(out.logits[1], solo.logits[0]) > 1e-3, 'masked head changes the logits');
    assert.equal(runner.seqLength(kids[0]), 6);
    assert.equal(runner.seqLength(parent), 6);
    for (const s of [parent, ...kids]) await runner.freeSeq(s);
    assert.throws(() => runner.seqLength(parent), /unknown sequence/);
  });

  it('concurrent calls are served one at a time and give the sequential results', async () => {
    const [a, b] = [await runner.createSeq(), await runner.createSeq()];
    const sa = runner.step([{ seq: a, tokens: [0, 3, 4], plan: FULL_PLAN, logits: 'last' }]);
    const sb = runner.step([{ seq: b, tokens: [0, 3, 4], plan: FULL_PLAN, logits: 'last' }]);
    const fa = runner.forkSeq(a, 2);
    const [ra, rb, kids] = await Promise.all([sa, sb, fa]);
    assert.ok(maxAbsDiff(ra.logits[0], rb.logits[0]) <= 1e-6);
    assert.deepEqual(kids.map((k) => runner.seqLength(k)), [3, 3], 'fork saw the finished prefill');
    const next = await Promise.all(kids.map((k) => runner.step([{ seq: k, tokens: [9], plan: FULL_PLAN, logits: 'last' }])));
    assert.ok(maxAbsDiff(next[0].logits[0], next[1].logits[0]) <= 1e-6);
    for (const s of [a, b, ...kids]) await runner.freeSeq(s);
  });

  it("returns every new position's logits for logits: 'all'", async () => {
    const seq = await runner.createSeq();
    const out = await runner.step([{ seq, tokens: [0, 1, 2, 3], plan: FULL_PLAN, logits: 'all' }]);
    assert.equal(out.logits[0].length, 4 * 272);
    assert.ok(out.runMs > 0);
    await runner.freeSeq(seq);
  });

  it('rejects bad rows with a message naming the problem', async () => {
    const seq = await runner.createSeq();
    const bad: SkipPlan = { skipAttention: [0, 7], skipMlp: [], maskHeads: {} };
    await assert.rejects(runner.step([{ seq, tokens: [1], plan: bad, logits: 'last' }]), /skip_attention\[1\]=7 out of range: model has 3 layers/);
    await assert.rejects(
      runner.step([{ seq, tokens: [1], plan: { skipAttention: [], skipMlp: [], maskHeads: { 0: [4] } }, logits: 'last' }]),
      /mask_heads\.0\[0\]=4 out of range: model has 4 heads/,
    );
    await assert.rejects(runner.step([{ seq, tokens: [999], plan: FULL_PLAN, logits: 'last' }]), /tokens\[0\]=999 out of range/);
    await assert.rejects(runner.step([{ seq: 12345, tokens: [1], plan: FULL_PLAN, logits: 'last' }]), /unknown sequence 12345/);
    assert.equal(runner.seqLength(seq), 0, 'a rejected step consumes nothing');
    await runner.freeSeq(seq);
  });
});

describe('runner lifecycle', () => {
  it('a bad model directory rejects at load with the loader message', async () => {
    await assert.rejects(loadRunner({ modelDir: '/nonexistent/model' }), /model directory not found/);
  });

  it('a process that loads, steps and closes the runner exits on its own', () => {
    const dir = makeCheckpoint({ layers: 1, seed: 3 });
    const runnerUrl = new URL('../src/model/runner.ts', import.meta.url).href;
    const script = `
      const { loadRunner } = await import(${JSON.stringify(runnerUrl)});
      const r = await loadRunner({ modelDir: ${JSON.stringify(dir)}, threads: 1 });
      const s = await r.createSeq();
      await r.step([{ seq: s, tokens: [0, 1], plan: { skipAttention: [], skipMlp: [], maskHeads: {} }, logits: 'last' }]);
      await r.close();
      await r.step([{ seq: s, tokens: [1], plan: { skipAttention: [], skipMlp: [], maskHeads: {} }, logits: 'last' }]).catch((e) => console.log('after close:', e.message));
      console.log('done');`;
    const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
      timeout: 60_000,
    });
    rmSync(dir, { recursive: true, force: true });
    assert.equal(res.signal, null, `process hung or was killed: ${res.stderr}`);
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /after close: runner is closed/);
    assert.match(res.stdout, /done/);
  });
});
