/**
 * The speedup the engine reports, checked against alternating measurements: the same request
 * (32 tokens, end-of-sequence ignored) with a core skipping about 60% of the FLOPs and on the full
 * model, alternately, the core first. A random checkpoint with wide layers, so the core's saving is
 * large against per-op overhead. Measured: the median over the pairs of full / core wall time.
 * Six settings: a fresh engine (n = 4, 8 pairs; the engine has seen no full-model request, its
 * baseline comes from its own dense probes); a short request (8 tokens, right after); under load (n = 2, 12 pairs, two callers sending
 * full-model requests back to back the whole time); under mixed load (one caller on the full model,
 * one on another core); beside two callers on the same core and one on the full model; beside
 * three callers on the same core alone. Under load the full-model request joins the callers' group, and the other
 * core keeps its fair share: the engine's counterfactual (src/engine/full-model-wall.ts) models
 * both. Medians of reported / measured on this shared 2-core machine (4 December 2026, a niced
 * 2-thread job beside it), 16 pairs per run: fresh 1.01, 1.09, 1.09; under load 1.02, 1.05, 1.08,
 * 0.99, 0.99, 0.99, 0.93; mixed 1.04, 0.97, 1.04; at this test's 8-12 pairs: fresh 1.04, 1.04, 1.04,
 * 1.13; under load 0.88, 0.94, 0.95, 0.89; mixed 0.99, 1.04, 0.98, 0.99. (The substitution it
 * replaced read 0.78-1.05 under load.) Tolerance 30% for all four:
 * about twice the spread of single runs here, far below the errors this guards against (reports of
 * 0.5x or 2x for requests that measure 1.4x, from a baseline taken under other load, or a step-time
 * ratio). SPEEDUP_TRUST_ROUNDS=N sets the pairs of every case (to measure the spread).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openLocalEngine, type LocalEngine } from '../src/engine/local-engine.ts';
import type { RequestSpec } from '../src/engine/types.ts';
import { planCost, planToWire, type SkipPlan } from '../src/plans/plan.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';

const TOLERANCE = 0.3;
const ROUNDS = Number(process.env.SPEEDUP_TRUST_ROUNDS ?? 8);
const ROUNDS_UNDER_LOAD = Number(process.env.SPEEDUP_TRUST_ROUNDS ?? 12);

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

/** How the compared request runs: on `engine` (default the shared one; its full model too), with `skip` (default the core). */
interface Compared {
  engine?: LocalEngine;
  skip?: RequestSpec['skip'];
}

/** One request of `base`, compared (`withCore`) or on the full model of the same engine: its wall time and reported speedup. */
async function timed(base: RequestSpec, withCore: boolean, c: Compared = {}): Promise<{ ms: number; speedup: number | null }> {
  const t0 = performance.now();
  const r = await (c.engine ?? local).generate({ ...base, skip: withCore ? (c.skip ?? { policy: 'explicit', plan: planToWire(CORE) }) : { policy: 'none' } });
  return { ms: performance.now() - t0, speedup: r.speedup };
}

/**
 * `rounds` pairs of the same request with the core and on the full model, alternating which goes
 * first (the core first in the first pair): the median report, the median measured full / core
 * ratio, and a message with every figure.
 */
async function alternate(base: RequestSpec, rounds: number, compared: Compared = {}): Promise<{ rep: number; measured: number; msg: string }> {
  const coreMs: number[] = [];
  const fullMs: number[] = [];
  const reported: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const coreFirst = r % 2 === 0;
    const a = await timed(base, coreFirst, compared);
    const b = await timed(base, !coreFirst, compared);
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
  const { rep, measured, msg } = await alternate(BASE, ROUNDS);
  t.diagnostic(msg);
  assert.ok(measured > 1.1, `the core saves time end to end: ${msg}`);
  assert.ok(rep > 1.1, msg);
  assert.ok(Math.abs(rep / measured - 1) <= TOLERANCE, msg);
});

test('a short request (8 tokens) reports what an alternating measurement says', async (t) => {
  // Few steps, so the time around them and the request's own slow steps weigh: the default model's
  // 16-token fast-mode requests read 10-30% above their measurement through HTTP while the
  // counterfactual scaled their steps by the step-time ratio and charged the time around them at
  // the mean of other requests' steps (README, "Short requests").
  const { rep, measured, msg } = await alternate({ ...BASE, maxTokens: 8 }, ROUNDS);
  t.diagnostic(msg);
  assert.ok(Math.abs(rep / measured - 1) <= TOLERANCE, msg);
});

test('speculative decoding (greedy and sampled on the core, greedy with a head mask per candidate; a core per candidate, which cannot speculate): the report matches an alternating measurement against the full model, which speculates too', async (t) => {
  // A second engine drafts with layers 3-4 skipped besides the core. The full model's requests
  // speculate as well, so each reports 1; the core's cycles count against the same cycles with the
  // verification at the meter's dense / core ratio of a verification (engine.ts, speculate).
  const spec = await openLocalEngine({ modelDir: local.modelDir, threads: 1, maxBatch: 8, maxQueue: 100, speculativeConfig: JSON.stringify({ method: 'skip', draft: { skip_layers: [3, 4] }, num_speculative_tokens: 3 }) });
  try {
    const { rep, measured, msg } = await alternate({ ...BASE, temperature: 0 }, ROUNDS, { engine: spec });
    t.diagnostic(msg);
    assert.ok(((await spec.metrics.specCycles.get()).values[0]?.value ?? 0) > 0, 'the rows speculated');
    assert.ok(Math.abs(rep / measured - 1) <= TOLERANCE, msg);
    const sampled = await alternate(BASE, ROUNDS, { engine: spec });
    t.diagnostic(`sampled: ${sampled.msg}`);
    assert.ok(Math.abs(sampled.rep / sampled.measured - 1) <= TOLERANCE, sampled.msg);
    // Candidates that differ by head masks decode different paths, and the request waits for its
    // slowest, where the full model's greedy candidates are one path: counted at the full model's
    // own cycles per token (FullModelCycles).
    const plans = [0, 1, 2, 3].map((h) => planToWire({ ...CORE, maskHeads: { 0: [h] } }));
    const masked = await alternate({ ...BASE, temperature: 0 }, ROUNDS, { engine: spec, skip: { policy: 'explicit', plans } });
    t.diagnostic(`greedy, a head mask per candidate: ${masked.msg}`);
    assert.ok(Math.abs(masked.rep / masked.measured - 1) <= TOLERANCE, masked.msg);
    // Candidates on different cores (as `sub-networks` and `ensemble`) decode plainly, where the
    // same request on the full model speculates: counted against the full model's cycles for its tokens.
    const apart = [1, 2, 3, 4].map((l) => planToWire({ skipAttention: [], skipMlp: [l], maskHeads: {} }));
    const diverse = await alternate({ ...BASE, temperature: 0 }, ROUNDS, { engine: spec, skip: { policy: 'explicit', plans: apart } });
    t.diagnostic(`greedy, a core per candidate (no speculation): ${diverse.msg}`);
    assert.ok(Math.abs(diverse.rep / diverse.measured - 1) <= TOLERANCE, diverse.msg);
  } finally {
    await spec.close();
  }
});

test("a request's wall time counts from when its transport read it (receivedAt): that time is the same on the full model", async () => {
  await local.generate({ ...BASE, maxTokens: 4, skip: { policy: 'explicit', plan: planToWire(CORE) } }); // the core's graph, when this test runs alone
  // Ten seconds spent before the engine (as if parsing took that long) dwarf the core's saving.
  const r = await local.generate({ ...BASE, maxTokens: 4, receivedAt: performance.now() - 10_000, skip: { policy: 'explicit', plan: planToWire(CORE) } });
  assert.ok(r.speedup !== null && Math.abs(r.speedup - 1) < 0.05, `speedup ${r.speedup}`);
  const plain = await local.generate({ ...BASE, maxTokens: 4, skip: { policy: 'explicit', plan: planToWire(CORE) } });
  assert.ok(plain.speedup !== null && plain.speedup > 1.05, `without it: ${plain.speedup}`);
});

/** The alternation while `callers` send requests back to back (their `skip` field each) the whole time. */
async function alternateUnderLoad(base: RequestSpec, callers: RequestSpec['skip'][]): Promise<{ rep: number; measured: number; msg: string }> {
  let stop = false;
  const background = async (skip: RequestSpec['skip'], seed: number) => {
    while (!stop) await local.generate({ ...base, seed, skip });
  };
  const running = callers.map((skip, i) => background(skip, 100 * (i + 1)));
  try {
    await timed(base, true); // the core's first steps (switched graph, core graph build) are not this test's subject
    return await alternate(base, ROUNDS_UNDER_LOAD);
  } finally {
    stop = true;
    await Promise.all(running);
  }
}

test('under load the reported speedup matches an alternating end-to-end measurement', async (t) => {
  // Two callers sending full-model requests back to back for the whole measurement.
  const { rep, measured, msg } = await alternateUnderLoad({ ...BASE, n: 2 }, [{ policy: 'none' }, { policy: 'none' }]);
  t.diagnostic(msg);
  assert.ok(measured > 1.1, `the core saves time end to end under load: ${msg}`);
  assert.ok(rep > 1.1, msg);
  assert.ok(Math.abs(rep / measured - 1) <= TOLERANCE, msg);
});

test('under mixed load (the full model and another core in flight) the reported speedup matches an alternating measurement', async (t) => {
  const other: SkipPlan = { skipAttention: [3, 4], skipMlp: [], maskHeads: {} };
  const { rep, measured, msg } = await alternateUnderLoad({ ...BASE, n: 2 }, [{ policy: 'none' }, { policy: 'explicit', plan: planToWire(other) }]);
  t.diagnostic(msg);
  assert.ok(measured > 1.1, `the core saves time end to end under mixed load: ${msg}`);
  assert.ok(rep > 1.1, msg);
  assert.ok(Math.abs(rep / measured - 1) <= TOLERANCE, msg);
});

test('beside requests sharing its core (and a full-model caller) the reported speedup matches an alternating measurement', async (t) => {
  // Two callers on the same core: their rows ride the request's steps; on the full model the request
  // leaves them, and, having work (closed-loop callers renew), they keep their fair share of the
  // machine. Reported / measured here (4 December 2026): 0.76-0.86 while their time was bounded by
  // what they took, 1.04-1.11 with the fair share.
  const same = { policy: 'explicit' as const, plan: planToWire(CORE) };
  const { rep, measured, msg } = await alternateUnderLoad({ ...BASE, n: 2 }, [{ policy: 'none' }, same, same]);
  t.diagnostic(msg);
  assert.ok(measured > 1.1, `the core saves time end to end beside its sharers: ${msg}`);
  assert.ok(rep > 1.1, msg);
  assert.ok(Math.abs(rep / measured - 1) <= TOLERANCE, msg);
});

test('beside a crowd of its own core only the reported speedup matches an alternating measurement', async (t) => {
  // Three callers on the same core and none on the full model: on the full model the request takes
  // its own turns with its own rows, a small, fast step, while the crowd shares bigger steps; so the
  // same request can measure faster on the full model (0.67x on the default model beside seven callers,
  // n 8, 160 tokens). Reported / measured there: 2.86 when the request's dense step was taken at all
  // the step's rows, 0.95 with its own rows; here (4 December 2026) 1.43 before, 0.77-0.94 after,
  // 1.02-1.09 with the busy sharers' fair share.
  const same = { policy: 'explicit' as const, plan: planToWire(CORE) };
  const { rep, measured, msg } = await alternateUnderLoad({ ...BASE, n: 2 }, [same, same, same]);
  t.diagnostic(msg);
  assert.ok(Math.abs(rep / measured - 1) <= TOLERANCE, msg);
});
