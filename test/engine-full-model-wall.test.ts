/**
 * The full-model counterfactual of a skip-core request's speedup (src/engine/full-model-wall.ts)
 * and the load ledger it reads (src/engine/load-ledger.ts), on hand-computed windows: alone, beside
 * the full model's group (merged steps, its renewals), beside another core's group (fair share),
 * and beside requests of its own core (their fair share while they have work, else the steps they took).
 * The end-to-end check against alternating measurements is test/engine-speedup-trust.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyOwnSteps, fullModelWindowMs, fullModelWindowParts, type DenseModel, type OwnSteps } from '../src/engine/full-model-wall.ts';
import { EMBED_KEY, emptyGroupTotals, LoadLedger, type GroupTotals, type LedgerWindow } from '../src/engine/load-ledger.ts';

const group = (g: Partial<GroupTotals>): GroupTotals => ({ ...emptyGroupTotals(), ...g });
const CORE = { decodeMs: 80, aroundMs: 30, decodeSteps: 10, decodeRows: 20, prefillMs: 20, prefillSteps: 1 };
const OWN: OwnSteps = { ...emptyOwnSteps(), prefillMs: 20, prefillDenseMs: 30, prefillSteps: 1, decodeSteps: 10, decodeRows: 20, decodeDenseMs: 120 };
const full = (o: Partial<DenseModel> = {}): DenseModel => ({ key: 'dense', stepMs: () => null, aroundStepMs: () => 4, prefillPerRow: 0, ...o });

test('alone: the request steps at their dense equivalent, with a full-model step\'s time around each', () => {
  const w: LedgerWindow = { wallMs: 200, steps: 11, stepMs: 100, aroundMs: 30, groups: new Map([['core', group(CORE)]]) };
  // rest of the loop = (200 - 100 - 30) / 11 per runner step; 30 + 120 + 10 x 4 + 11 x rest = 260.
  assert.ok(Math.abs(fullModelWindowMs(w, 'core', OWN, full()) - 260) < 1e-9);
});

test('alone: around a solo step the full model pays what the request paid around its own (spikes included), the line where it is not known', () => {
  const w: LedgerWindow = { wallMs: 200, steps: 11, stepMs: 100, aroundMs: 30, groups: new Map([['core', group(CORE)]]) };
  // 10 solo steps, 9 of them done before the request ended (27 ms around them, 3 each): 30 + 120 + 10 x 3 + 11 x rest = 250.
  const solo = { ...OWN, soloSteps: 10, soloAroundMs: 27, soloAroundSteps: 9 };
  assert.ok(Math.abs(fullModelWindowMs(w, 'core', solo, full()) - 250) < 1e-9);
  // 6 solo steps (4 shared): 6 x 3 at the request's own, 4 x 4 on the line.
  const some = { ...solo, soloSteps: 6, sharedSteps: 4 };
  const parts = fullModelWindowParts(w, 'core', some, full());
  assert.ok(Math.abs(parts.ownAround - (6 * 3 + 4 * 4)) < 1e-9, `${parts.ownAround}`);
});

test('beside the full model: merged dense steps, and the full model\'s renewals at their rate per row', () => {
  const own = { ...OWN, denseSteps: 10, denseRows: 40 };
  const w: LedgerWindow = { wallMs: 300, steps: 16, stepMs: 160, aroundMs: 44, groups: new Map([['core', group(CORE)], ['dense', group({ decodeMs: 60, decodeSteps: 5, decodeRows: 20 })]]) };
  const at: number[] = [];
  const model = full({ stepMs: (b) => (at.push(b), 15), aroundStepMs: (r) => (r === 6 ? 5 : 4), prefillPerRow: 0.5 });
  // rest = (300 - 160 - 44) / 16 = 6; (30 + 6) + (10 x 15 + 10 x 5 + 10 x 6) + 0.5 x 40 = 316.
  assert.ok(Math.abs(fullModelWindowMs(w, 'core', own, model) - 316) < 1e-9);
  assert.deepEqual(at, [6], 'the merged batch: 4 rows beside the request\'s 2');
  // A merged step never counts as cheaper than the request's own dense equivalent (12 ms here).
  assert.ok(Math.abs(fullModelWindowMs(w, 'core', own, full({ stepMs: () => 3, aroundStepMs: (r) => (r === 6 ? 5 : 4), prefillPerRow: 0.5 })) - 286) < 1e-9);
});

test('beside another core: its time keeps its fair share of the decode time', () => {
  const other = group({ decodeMs: 40, aroundMs: 10, decodeSteps: 10, prefillMs: 10, prefillSteps: 1, probeMs: 5, probeSteps: 1 });
  const w: LedgerWindow = { wallMs: 195, steps: 23, stepMs: 155, aroundMs: 40, groups: new Map([['core', group(CORE)], ['other', other]]) };
  // rest 0; others 65 scaled by 120 / 80 (the request's dense decode time over its group's): 97.5.
  assert.ok(Math.abs(fullModelWindowMs(w, 'core', OWN, full()) - (30 + 120 + 40 + 97.5)) < 1e-9);
  // Shared with other requests of its core (the group's 40 row-steps, 20 of them the request's) that
  // still have work at the request's end: they keep their fair share, scaled like the other core's
  // group; the request's half of the time around the steps leaves with it ((80 + 30 / 2) x 1.5).
  const sharing = new Map(w.groups).set('core', group({ ...CORE, decodeRows: 40 }));
  const shared = fullModelWindowMs({ ...w, groups: sharing }, 'core', { ...OWN, sharedSteps: 10 }, full());
  assert.ok(Math.abs(shared - (30 + 120 + 40 + 97.5 + 1.5 * (80 + 15))) < 1e-9, `${shared}`);
  // Groups with nothing in flight or waiting at the end had only the work they did: no more time
  // than they took (the sharers' 95; the other core's 65 unscaled).
  const idle = fullModelWindowMs({ ...w, groups: sharing }, 'core', { ...OWN, sharedSteps: 10 }, full({ busy: () => false }));
  assert.ok(Math.abs(idle - (30 + 120 + 40 + 65 + (80 + 15))) < 1e-9, `${idle}`);
});

test('ledger: windows, the renewal rate per row and the around-step line', () => {
  let now = 0;
  const ledger = new LoadLedger(() => now);
  ledger.prefilled([{ key: 'dense', tokens: 10 }], 8);
  ledger.decoded('dense', true, 4, 10, 2);
  assert.ok(Math.abs(ledger.prefillPerRow('dense') - (8 * 0.995) / 4) < 1e-12);
  const from = ledger.snapshot();
  now = 50;
  ledger.decoded('core', false, 2, 5, 1);
  ledger.probed('core', 7, 1);
  ledger.prefilled([{ key: 'core', tokens: 3 }, { key: 'dense', tokens: 1 }], 4);
  ledger.embedded(6);
  const w = ledger.since(from);
  assert.equal(w.wallMs, 50);
  assert.equal(w.steps, 4);
  assert.equal(w.stepMs, 5 + 7 + 4 + 6);
  assert.deepEqual(w.groups.get(EMBED_KEY), { ...emptyGroupTotals(), prefillMs: 6, prefillSteps: 1 }, "a policy's prompt embedding is a step of its own group, not loop time outside steps");
  assert.equal(w.aroundMs, 1);
  assert.deepEqual(w.groups.get('core'), { decodeMs: 5, aroundMs: 1, decodeSteps: 1, decodeRows: 2, prefillMs: 3, prefillSteps: 1, probeMs: 7, probeSteps: 1 });
  assert.deepEqual(w.groups.get('dense'), { ...emptyGroupTotals(), prefillMs: 1, prefillSteps: 1 });
  // Around-step time: from the full model's steps once there are enough of them, a line in the rows.
  const l = new LoadLedger();
  for (let i = 0; i < 20; i++) {
    l.decoded('dense', true, 2, 5, 1);
    l.decoded('dense', true, 6, 9, 3);
    l.decoded('core', false, 4, 3, 0.1);
  }
  assert.ok(Math.abs(l.aroundStepMs(4) - 2) < 1e-9);
  assert.ok(Math.abs(l.aroundStepMs(8) - 4) < 1e-9);
});

test('ledger: groups idle for 10 minutes are forgotten past 64, and a window counts a returning one from zero', () => {
  let now = 0;
  const ledger = new LoadLedger(() => now);
  for (let i = 0; i < 70; i++) ledger.decoded(`core${i}`, false, 1, 1, 0);
  now = 11 * 60_000;
  ledger.decoded('core0', false, 1, 2, 0); // core0 is busy again: kept
  const from = ledger.snapshot(); // forgets core1..core69
  assert.equal(from.groups.size, 1);
  ledger.decoded('core5', false, 1, 3, 0); // a new life
  const w = ledger.since(from);
  assert.equal(w.groups.get('core5')!.decodeMs, 3);
  assert.equal(w.groups.has('core0'), false, 'no activity since the snapshot');
});
