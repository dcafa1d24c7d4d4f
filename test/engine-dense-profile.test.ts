import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DenseBaseline, denseStepMs, measureDenseProfile } from '../src/engine/dense-profile.ts';
import { loadRunner } from '../src/model/runner.ts';
import { testCheckpoint } from './helpers/start-server.ts';

const profile = { batches: [1, 4], contexts: [16, 128], ms: [[2, 5], [4, 9]] };

test('dense step time interpolates over batch size and context', () => {
  assert.equal(denseStepMs(profile, 1, 16), 2);
  assert.equal(denseStepMs(profile, 4, 128), 9);
  assert.equal(denseStepMs(profile, 2, 16), 3);
  assert.equal(denseStepMs(profile, 1, 72), 3);
  assert.equal(denseStepMs(profile, 4, 240), 13, 'extends the last segment past the measured context');
});

test('live baseline follows measured dense steps', () => {
  const b = new DenseBaseline(profile);
  assert.equal(b.expectedMs(1, 16), 2);
  for (let i = 0; i < 60; i++) b.observeDense(4, 16, 10);
  assert.ok(Math.abs(b.scaleFor(4) - 2) < 0.01, `scale ${b.scaleFor(4)}`);
  assert.ok(Math.abs(b.expectedMs(4, 128) - 18) < 0.2);
  assert.equal(b.expectedMs(1, 16), 2, 'batch-1 steps keep their own scale');
  b.observeDense(1, 16, 3);
  assert.equal(b.scaleFor(1), 1.25, 'the first steps are averaged plainly');
});

test('the startup profile runs on the real runtime', async () => {
  const runner = await loadRunner({ modelDir: testCheckpoint(), threads: 1, maxBatch: 4 });
  try {
    const p = await measureDenseProfile(runner, [4, 1, 4], { contexts: [8, 32], rounds: 3 });
    assert.deepEqual(p.batches, [1, 4]);
    assert.deepEqual(p.contexts, [8, 32]);
    assert.equal(p.ms.length, 2);
    for (const row of p.ms) for (const v of row) assert.ok(v > 0);
  } finally {
    await runner.close();
  }
});
