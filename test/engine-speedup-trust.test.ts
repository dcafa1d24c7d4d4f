/**
 * The speedup the engine reports, checked against an alternating measurement on a fresh engine:
 * the same request (n = 4, 32 tokens, end-of-sequence ignored) with a core skipping about 60% of
 * the FLOPs and on the full model, alternately, the core first (the engine has seen no full-model
 * request; its baseline comes from its own dense probes), 8 rounds. A random
 * checkpoint with wide layers, so the core's saving is large against per-op overhead. Measured:
 * the median over the pairs of full / core wall time. Tolerance 30%: in runs on this shared 2-core
 * machine (load average 6-9 from other jobs, single decode steps varying 5x) the median report was
 * within 20% of the measured median; 30% is about twice that, and far below the errors this guards
 * against (reports of 0.5x or 2x for requests that measure 1.4x, from a baseline taken under other
 * load).
 * Under load (two callers sending full-model requests back to back the whole time) the report
 * runs low: the full-model request joins the callers' group and, with the core's group gone, they
 * finish and prefill new requests sooner, which that request waits for (a closed loop the
 * per-request substitution cannot see). Medians over 8 pairs, this machine, 4 December 2026:
 * reported / measured 1.01, 0.91, 0.78, 0.94, 0.85, 1.05, 0.92, 0.87, 0.79. Tolerance 40%: the
 * check is that the report stays a measured saving under load, not 1 or a step-time ratio.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openLocalEngine, type LocalEngine } from '../src/engine/local-engine.ts';
import type { RequestSpec } from '../src/engine/types.ts';
import { planCost, planToWire, type SkipPlan } from '../src/plans/plan.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';

const TOLERANCE = 0.3;
const TOLERANCE_UNDER_LOAD = 0.4;
const ROUNDS = 8;

let local: LocalEngine;
before(async () => {
  const dir = makeCheckpoint({ layers: 6, hidden: 512, heads: 8, kvHeads: 4, intermediate: 2048, vocab: 512, maxPositions: 256, seed: 21 });
  local = await openLocalEngine({ modelDir: dir, threads: 1, maxBatch: 8, maxQueue: 100 });
});
after(async () => {
  await local.close();
});

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const CORE: SkipPlan = { skipAttention: [1, 2], skipMlp: [1, 2, 3, 4], maskHeads: {} };
const BASE: RequestSpec = { prompt: { kind: 'text', text: 'Q: Ann has 12 cards and buys 30 more. How many cards does she have?\nA:' }, n: 4, maxTokens: 32, ignoreEos: true, temperature: 0.8, seed: 5 };

/** One request of `base`, with the core or on the full model: its wall time and reported speedup. */
async function timed(base: RequestSpec, withCore: boolean): Promise<{ ms: number; speedup: number | null }> {
  const t0 = performance.now();
  const r = await local.generate({ ...base, skip: withCore ? { policy: 'explicit', plan: planToWire(CORE) } : { policy: 'none' } });
  return { ms: performance.now() - t0, speedup: r.speedup };
}

/**
 * ROUNDS pairs of the same request with the core and on the full model, alternating which goes
 * first (the core first in the first pair): the median report, the median measured full / core
 * ratio, and a message with every figure.
 */
async function alternate(base: RequestSpec): Promise<{ rep: number; measured: number; msg: string }> {
  const coreMs: number[] = [];
  const fullMs: number[] = [];
  const reported: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const coreFirst = r % 2 === 0;
    const a = await timed(base, coreFirst);
    const b = await timed(base, !coreFirst);
    const [c, f] = coreFirst ? [a, b] : [b, a];
    assert.equal(f.speedup, 1, 'a request that skips nothing reports 1');
    reported.push(c.speedup!);
    coreMs.push(c.ms);
    fullMs.push(f.ms);
  }
  const measured = median(fullMs.map((f, i) => f / coreMs[i]!));
  const rep = median(reported);
  const msg = `reported ${rep.toFixed(2)} (${reported.map((x) => x.toFixed(2)).join(', ')}), measured ${measured.toFixed(2)} (core ms ${coreMs.map((x) => x.toFixed(0)).join(', ')}; full ms ${fullMs.map((x) => x.toFixed(0)).join(', ')})`;
  return { rep, measured, msg };
}

test('on a fresh engine the reported speedup matches an alternating end-to-end measurement', async (t) => {
  assert.ok(planCost(CORE, local.info).removedFraction > 0.5);
  const { rep, measured, msg } = await alternate(BASE);
  t.diagnostic(msg);
  assert.ok(measured > 1.1, `the core saves time end to end: ${msg}`);
  assert.ok(rep > 1.1, msg);
  assert.ok(Math.abs(rep / measured - 1) <= TOLERANCE, msg);
});

test('under load the reported speedup matches an alternating end-to-end measurement', async (t) => {
  const base: RequestSpec = { ...BASE, n: 2 };
  // Background: two callers sending full-model requests back to back for the whole measurement.
  let stop = false;
  const background = async (seed: number) => {
    while (!stop) await local.generate({ ...base, seed, skip: { policy: 'none' } });
  };
  const callers = [background(100), background(200)];
  let out: { rep: number; measured: number; msg: string };
  try {
    await timed(base, true); // the core's first steps (switched graph, core graph build) are not this test's subject
    out = await alternate(base);
  } finally {
    stop = true;
    await Promise.all(callers);
  }
  const { rep, measured, msg } = out;
  t.diagnostic(msg);
  assert.ok(measured > 1.1, `the core saves time end to end under load: ${msg}`);
  assert.ok(rep > 1.1, msg);
  assert.ok(Math.abs(rep / measured - 1) <= TOLERANCE_UNDER_LOAD, msg);
});
