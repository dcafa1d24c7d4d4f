import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadRunner } from '../src/model/runner.ts';
import type { ModelRunner } from '../src/model/runner-types.ts';
import { loadOrMeasureProfile, measureLatencyProfile, modelKey, predictSpeedup, profileShape, readCachedProfile } from '../src/plans/latency-profile.ts';
import { FULL_PLAN } from '../src/plans/plan.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';

let runner: ModelRunner;
before(async () => {
  // Wide enough that skipping a sublayer takes measurable time.
  runner = await loadRunner({ modelDir: makeCheckpoint({ layers: 3, hidden: 128, heads: 4, kvHeads: 2, intermediate: 512, maxPositions: 256 }), threads: 1 });
});
after(async () => {
  await runner.close();
});

test('the profile is measured through the runner, cached per model and machine, and predicts speedups', async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'profile-'));
  const opts = { cacheDir, batches: [1, 4], contexts: [16, 64], steps: 3, repeats: 1, threads: 1 };
  let progress = 0;
  const first = await loadOrMeasureProfile(runner, { ...opts, onProgress: () => progress++ });
  assert.equal(first.cached, false);
  assert.equal(progress, 2 * 2 * (3 + 2 * 3), 'every batch x context x plan was timed (the full plan twice: dense and switched)');
  const p = first.profile;
  assert.equal(p.modelKey, modelKey(runner.info));
  assert.deepEqual(p.shapes.map((s) => `${s.batch}/${s.context}`), ['1/16', '1/64', '4/16', '4/64']);
  for (const s of p.shapes) {
    assert.equal(s.attentionMs.length, 3);
    assert.equal(s.mlpMs.length, 3);
    assert.ok(s.denseMs > 0 && s.switchedMs > 0 && s.baseMs > 0);
    assert.ok([...s.attentionMs, ...s.mlpMs].every((x) => x > 0));
  }
  const second = await loadOrMeasureProfile(runner, opts);
  assert.equal(second.cached, true);
  assert.deepEqual(second.profile, p);
  assert.deepEqual(readCachedProfile(first.path!, runner.info, 1), p);
  // A read-only model directory: its router/profiles.json is read, never written; nothing cached means memory only.
  const modelDir = mkdtempSync(join(tmpdir(), 'profile-model-'));
  mkdirSync(join(modelDir, 'router'));
  writeFileSync(join(modelDir, 'router', 'profiles.json'), readFileSync(first.path!));
  const fromModel = await loadOrMeasureProfile(runner, { ...opts, cacheDir: null, readDirs: [modelDir] });
  assert.equal(fromModel.cached, true);
  assert.equal(fromModel.path, join(modelDir, 'router', 'profiles.json'));
  const other = await loadOrMeasureProfile(runner, { ...opts, threads: 7, cacheDir: null, readDirs: [modelDir] });
  assert.equal(other.cached, false, 'a profile of other hardware is re-measured, not refused');
  assert.equal(other.path, null, 'and kept in memory when no cache directory is configured');
  assert.equal(readCachedProfile(first.path!, runner.info, 7), null, 'another thread count is another machine key');
  // A profile of an older version (no switched-graph time) is re-measured.
  const old = JSON.parse(readFileSync(first.path!, 'utf8')) as { profiles: Record<string, { version: number }> };
  for (const k of Object.keys(old.profiles)) old.profiles[k]!.version = 1;
  writeFileSync(first.path!, JSON.stringify(old));
  assert.equal(readCachedProfile(first.path!, runner.info, 1), null);
  assert.equal(profileShape(p, 8, 60).batch, 4);
  assert.equal(profileShape(p, 1, 60).context, 64);
  assert.equal(predictSpeedup(p, [FULL_PLAN]), 1);
  const core = { skipAttention: [1, 2], skipMlp: [1, 2], maskHeads: {} };
  // The prediction is the dense step over the switched step less what the core's sublayers take
  // (never below the empty step), whatever this machine's timings are.
  const s = profileShape(p, 2, 128);
  const saved = s.attentionMs[1]! + s.attentionMs[2]! + s.mlpMs[1]! + s.mlpMs[2]!;
  assert.ok(Math.abs(predictSpeedup(p, [core, core]) - s.denseMs / Math.max(s.switchedMs - saved, s.baseMs)) < 1e-9);
  // Only what every row skips counts.
  assert.equal(predictSpeedup(p, [core, FULL_PLAN]), 1);
  assert.equal(predictSpeedup(p, [core, { ...core, maskHeads: { 0: [1] } }]), predictSpeedup(p, [core, core]));
});

test('measuring a profile builds no core graph: its sublayer timings run through the switched graph', async () => {
  const r = await loadRunner({ modelDir: makeCheckpoint({ layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, maxPositions: 128, seed: 4 }), threads: 1 });
  try {
    const p = await measureLatencyProfile(r, { batches: [1, 2], contexts: [16], steps: 10, repeats: 2, threads: 1 });
    assert.equal(p.shapes.length, 2);
    // The profile ran "layer 0's attention alone" for 24 steps; had they counted, it would have its own graph now.
    const alone = { skipAttention: [1], skipMlp: [0, 1], maskHeads: {} };
    const seq = await r.createSeq();
    const prefill = await r.step([{ seq, tokens: [1, 2, 3], plan: alone, logits: 'last' }]);
    const decode = await r.step([{ seq, tokens: [4], plan: alone, logits: 'last' }]);
    assert.deepEqual([...prefill.graphs!, ...decode.graphs!], ['switched', 'switched']);
  } finally {
    await r.close();
  }
});
