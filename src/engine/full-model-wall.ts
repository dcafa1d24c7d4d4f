/**
 * How long a skip-core request would have taken on the full model, beside the same load: the
 * numerator of its reported speedup. Over the window from its admission to its end (the ledger's
 * difference, load-ledger.ts), the request's own steps become dense steps, and the work beside it
 * is re-timed the way the fair-share scheduler would have run it:
 * - while the full model's group was in flight, the request's rows join it: each of its steps is a
 *   dense step at the merged batch (the meter's mean dense step time there), and its own group's
 *   turns, dense probes and core-graph waits disappear; otherwise each step is its dense equivalent;
 * - the full model's group then steps once per step of the request, and its requests finish and
 *   prefill new ones that much sooner: their prefill time at its recent rate per decoded row
 *   (closed-loop clients renew a request as soon as one ends);
 * - every other core's group keeps its fair share: its time scales with the decode time of the
 *   group the request is in, and so does the rest of the request's own group (other requests of its
 *   core that shared its steps), while the group has work: a group with nothing in flight or
 *   waiting at the request's end keeps at most the time it took, the work it had. (Sharers bounded
 *   always read 0.76-0.88 of the alternating measurement in the trust test's shared-core and crowd
 *   cases, where closed-loop sharers in fact took twice the steps on the full model; scaled when
 *   they renewed in the window, 1.04-1.09 there but reports 5-15% above the arms' p50 ratios in the
 *   `policies` load test, whose cores come and go; scaled while busy at the end: see the README);
 * - other requests' prompt embeddings (a group of their own in the ledger) scale like another core's
 *   group: charged per step as the loop's other time, they read 1.10-1.16x the alternating
 *   measurement beside four fast-mode callers sharing the request's core (n 4, 40 tokens; then
 *   1.05-1.20 over 7 runs; 1.00-1.09 once the request's rows' part of the sharers' time around the
 *   steps leaves with it, below);
 * - the engine's time around a full-model decode step (worker round trip, sampling, streaming)
 *   grows with its rows: a line fitted to recent steps (load-ledger.ts), except around a step the
 *   request had to itself, where the full model does what it did (its own time there); the rest of
 *   the loop's time is charged per runner step.
 * On an engine with nothing else in flight this is the substitution of the request's step times by
 * their dense equivalents. (That substitution alone read 0.78-1.05 of the alternating measurement
 * under load: it kept the other groups' turns the request waited for, which the full-model request
 * does not wait for, and missed the closed loop.)
 */
import { emptyGroupTotals, type GroupTotals, type LedgerWindow } from './load-ledger.ts';

/** A request's own part of the window (its prefill share and its decode steps). */
export interface OwnSteps {
  /** Its share of the prefill steps' time (by tokens), and that share's dense equivalent. */
  prefillMs: number;
  prefillDenseMs: number;
  prefillSteps: number;
  /** Decode steps its rows took part in, the sum of its rows over them, and their dense equivalent (step time x the meter's ratio). */
  decodeSteps: number;
  decodeRows: number;
  decodeDenseMs: number;
  /** Of those steps, how many its group shared with rows of other requests (of the same core). */
  sharedSteps: number;
  /** Of those steps, how many ran while the full model's group had rows in flight, and the sum of those rows. */
  denseSteps: number;
  denseRows: number;
  /** Of those steps, how many were solo (not shared, nothing of the full model beside), and the engine's time around those of them done before the request ended. */
  soloSteps: number;
  soloAroundMs: number;
  soloAroundSteps: number;
}

export const emptyOwnSteps = (): OwnSteps => ({ prefillMs: 0, prefillDenseMs: 0, prefillSteps: 0, decodeSteps: 0, decodeRows: 0, decodeDenseMs: 0, sharedSteps: 0, denseSteps: 0, denseRows: 0, soloSteps: 0, soloAroundMs: 0, soloAroundSteps: 0 });

const NONE: GroupTotals = emptyGroupTotals();

/** What the counterfactual needs from the engine beside the window. */
export interface DenseModel {
  key: string;
  /** The mean dense step time at a (possibly fractional) batch size, null when unknown. */
  stepMs(batch: number): number | null;
  /** The engine's time around a decode step of this many rows. */
  aroundStepMs(rows: number): number;
  /** The full model's group's recent prefill time per decoded row (load-ledger.ts). */
  prefillPerRow: number;
  /** Whether a group still has work when the request ends (rows in flight or requests waiting); default yes. */
  busy?: (key: string) => boolean;
}

/** The counterfactual's terms (ms), for a debug log of where a reported speedup comes from. */
export interface FullModelParts {
  ownPrefill: number;
  ownDecodeRun: number;
  ownAround: number;
  ownRest: number;
  densePrefill: number;
  otherCores: number;
  sameCore: number;
  /** The scale of the other groups' fair share (the request's dense decode time over its group's). */
  scale: number;
}

/** The window's full-model counterfactual (ms) for a request of core `key` (not the dense one). */
export function fullModelWindowMs(w: LedgerWindow, key: string, own: OwnSteps, full: DenseModel): number {
  return partsTotal(fullModelWindowParts(w, key, own, full));
}

/** The sum of the counterfactual's terms (ms). */
export function partsTotal(p: FullModelParts): number {
  return p.ownPrefill + p.ownDecodeRun + p.ownAround + p.ownRest + p.densePrefill + p.otherCores + p.sameCore;
}

/** fullModelWindowMs's terms. */
export function fullModelWindowParts(w: LedgerWindow, key: string, own: OwnSteps, full: DenseModel): FullModelParts {
  // The loop's time outside runner steps and the time around decode steps, per runner step.
  const rest = Math.max(0, w.wallMs - w.stepMs - w.aroundMs) / Math.max(1, w.steps);
  const mine = w.groups.get(key) ?? NONE;
  const dense = w.groups.get(full.key) ?? NONE;
  const S = own.decodeSteps;
  // The share of the request's steps that ran while the full model's group was in flight, its rows then, and the request's rows.
  const phi = S > 0 ? own.denseSteps / S : 0;
  const beside = own.denseSteps > 0 ? own.denseRows / own.denseSteps : 0;
  const rows = S > 0 ? own.decodeRows / S : 0;
  // Those steps are dense steps at the merged batch; the rest, the request's steps at their dense equivalent.
  const perStep = S > 0 ? own.decodeDenseMs / S : 0;
  let mergedStep = perStep;
  if (own.denseSteps > 0 && rows > 0) {
    const at = full.stepMs(beside + rows);
    mergedStep = Math.max(perStep, at ?? (dense.decodeSteps > 0 ? dense.decodeMs / dense.decodeSteps : perStep));
  }
  const ownDecodeRun = S * (phi * mergedStep + (1 - phi) * perStep);
  // Around a solo step the full model does what the core did (sample, stream the same rows): the
  // request's own time there, spikes included (the fitted line, a mean over other requests'
  // steps, read 20% above a 16-token request's own); around merged or shared steps, the line.
  const solo = Math.min(own.soloSteps, S - own.denseSteps);
  const soloStep = own.soloAroundSteps > 0 ? own.soloAroundMs / own.soloAroundSteps : full.aroundStepMs(rows);
  const ownAround = own.denseSteps * full.aroundStepMs(beside + rows) + solo * soloStep + Math.max(0, S - own.denseSteps - solo) * full.aroundStepMs(rows);
  const ownPrefill = own.prefillDenseMs + own.prefillSteps * rest;
  // Each of those steps is one step of the full model's group, whose requests renew at their recent
  // rate per row decoded (its rows beside the request's, not the request's own).
  const densePrefill = full.prefillPerRow * own.denseRows;
  // Everything else keeps its fair share: the other cores' groups, and the rest of the request's own
  // group when other requests of its core shared it.
  const time = (g: GroupTotals) => g.decodeMs + g.aroundMs + g.prefillMs + g.probeMs + (g.decodeSteps + g.prefillSteps + g.probeSteps) * rest;
  const shared = S > 0 ? own.sharedSteps / S : 0;
  // The time around the group's steps grows with their rows (sampling, streaming): the request's
  // rows' part of it leaves with them (kept, it read 82 ms where the sharers paid 49 on the full
  // model, beside four fast-mode callers sharing the core).
  const ownRowShare = mine.decodeRows > 0 ? Math.min(1, own.decodeRows / mine.decodeRows) : 0;
  let sameCore = shared * (time(mine) - mine.prefillMs - mine.prefillSteps * rest - mine.aroundMs * ownRowShare);
  sameCore += Math.max(0, mine.prefillMs - own.prefillMs + (mine.prefillSteps - own.prefillSteps) * rest);
  // Fair share is of decode run time: the group the request is in gets one share, and so does every other.
  const unit = Math.max(mine.decodeMs, dense.decodeMs);
  const scale = unit > 0 ? ownDecodeRun / unit : 1;
  // A group keeps that share however long the request's dense steps run only while it has work:
  // one with nothing in flight or waiting at the request's end had only the work it did.
  const busy = full.busy ?? (() => true);
  const share = (k: string) => (busy(k) ? scale : Math.min(1, scale));
  let others = 0;
  for (const [k, g] of w.groups) if (k !== key && k !== full.key) others += time(g) * share(k);
  // The other requests of the request's own core took the shared steps they needed; like another
  // core's group they keep their fair share while they have work (closed-loop callers renew).
  return { ownPrefill, ownDecodeRun, ownAround, ownRest: S * rest, densePrefill, otherCores: others, sameCore: sameCore * share(key), scale };
}
