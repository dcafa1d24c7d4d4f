// The runner's stall watchdog: a worker that stops answering (its thread blocked, as in a run that
// never returns) fails the runner like a dead worker, within the stall time; the hung thread is not
// terminated mid-run but closes its model once it gets there, then ends. Slow answers that keep
// coming do not count as a stall, however long the calls take together.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { loadRunner } from '../src/model/runner.ts';
import type { SamplingRunner } from '../src/model/runner-types.ts';
import { FULL_PLAN } from '../src/plans/plan.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';

const ckpt = makeCheckpoint({ layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, seed: 5 });
after(() => rmSync(ckpt, { recursive: true, force: true }));

type Internals = { worker: Worker; call(req: { op: 'block'; ms: number }): Promise<null> };
const internals = (r: SamplingRunner) => r as unknown as Internals;

describe('runner stall watchdog', () => {
  it('a worker that stops answering fails pending and later calls, tells the failure listeners, and ends once idle', async () => {
    const r = await loadRunner({ modelDir: ckpt, threads: 1, stallMs: 400 });
    const seq = await r.createSeq();
    const failures: Error[] = [];
    r.onFailure!((e) => failures.push(e));
    const { worker, call } = internals(r);
    const exited = new Promise<number>((res) => worker.once('exit', res));
    const t0 = performance.now();
    const blocked = call.call(r, { op: 'block', ms: 2500 });
    const stepping = r.step([{ seq, tokens: [1, 2, 3], plan: FULL_PLAN, logits: 'last' }]);
    await assert.rejects(blocked, /model worker hung: no answer for 0\.4 s/);
    await assert.rejects(stepping, /hung/);
    const waited = performance.now() - t0;
    assert.ok(waited >= 390 && waited < 2400, `failed after the stall time, before the block ended (${waited.toFixed(0)} ms)`);
    assert.equal(failures.length, 1);
    assert.match(failures[0]!.message, /hung/);
    await assert.rejects(r.createSeq(), /hung/, 'later calls fail at once');
    await r.close(); // does not terminate the blocked thread
    const keepAlive = setInterval(() => {}, 100); // the abandoned worker no longer holds the process open
    const code = await exited;
    clearInterval(keepAlive);
    assert.equal(code, 1, 'the abandoned worker ended after its block, once it had closed its model (terminated: code 1)');
    assert.ok(performance.now() - t0 >= 2400, 'not before its block ended');
  });

  it('answers that keep coming are progress, not a stall, however long the calls take together', async () => {
    const r = await loadRunner({ modelDir: ckpt, threads: 1, stallMs: 1500 });
    const failures: Error[] = [];
    r.onFailure!((e) => failures.push(e));
    const { call } = internals(r);
    const t0 = performance.now();
    // Five queued calls of 400 ms each: 2 s in all, every answer within 0.4 s of the last.
    await Promise.all(Array.from({ length: 5 }, () => call.call(r, { op: 'block', ms: 400 })));
    assert.ok(performance.now() - t0 >= 1900);
    const seq = await r.createSeq();
    const out = await r.step([{ seq, tokens: [1, 2, 3], plan: FULL_PLAN, logits: 'last' }]);
    assert.equal(out.logits.length, 1);
    // Idle time with nothing pending is no stall either.
    await new Promise((res) => setTimeout(res, 1700));
    await r.createSeq();
    assert.deepEqual(failures, []);
    await r.close();
  });
});
