/**
 * A finished request's end-to-end speedup: its wall time on the full model beside the same load
 * (full-model-wall.ts), over its wall time. The engine hands each finished request here; what it
 * reads is the load ledger (every step's time, per group), the speedup meter (dense / core ratios)
 * and the full model's own speculative cycles (FullModelCycles), which this class keeps.
 */
import { coreKey, FULL_PLAN } from '../plans/plan.ts';
import type { ParentRequest } from './parent-request.ts';
import { allFullPlans, cycleKind, eligibleForSpeculation, FullModelCycles, speculativeGroupKey } from './speculation.ts';
import { fullModelWindowParts, partsTotal } from './full-model-wall.ts';
import type { LedgerWindow, LoadLedger } from './load-ledger.ts';
import { endToEndSpeedup, type SpeedupMeter } from './speedup-meter.ts';

const DENSE_KEY = coreKey(FULL_PLAN);
/** Group key of the full model's speculating rows. */
const SPECULATIVE_KEY = speculativeGroupKey(DENSE_KEY);

export interface RequestSpeedupDeps {
  ledger: LoadLedger;
  /** Absent: every request's steps count at their own time (ratio 1). */
  meter: SpeedupMeter | null;
  /** Whether the server speculates (the full model's greedy and sampled requests then do). */
  speculates: boolean;
  /** Whether a scheduler group has rows waiting or running. */
  hasWork(key: string): boolean;
  /** Each request's window and the counterfactual's terms (built only at debug level). */
  debug?(obj: object, msg: string): void;
}

export class RequestSpeedup {
  /** The full model's own speculating requests' cycles per token (the counterfactual of other plans' cycles). */
  private readonly fullCycles = new FullModelCycles();

  constructor(private readonly d: RequestSpeedupDeps) {}

  /**
   * The speedup of a request that has just finished. Without a meter, or for a request that skips
   * nothing, its step times substituted by their dense equivalents (1 for the full model). A
   * policy's prompt embedding counts against it: the client waited for it and the full model would
   * not have.
   */
  of(p: ParentRequest): number | null {
    const { ledger, meter } = this.d;
    // From when the transport read the request: the time it spent there (parsing, the prompt's
    // template and tokens) is the same on the full model, and its client waited for it too.
    const wall = performance.now() - Math.min(p.arrivedAt, p.req.receivedAt ?? p.arrivedAt);
    const w = p.ledgerAtAdmit ? ledger.since(p.ledgerAtAdmit) : null;
    const windowLog = (win: LedgerWindow, more: object = {}) => this.d.debug?.({ id: p.id, policy: p.policyName, core: p.coreKey, wallMs: wall, windowMs: win.wallMs, ...more, own: p.own, groups: Object.fromEntries(win.groups), steps: win.steps, stepMs: win.stepMs, aroundMs: win.aroundMs }, 'request window');
    // A request that decoded plainly where the same request on the full model would have speculated
    // (candidates on different cores: sub-networks, ensemble): its decode steps against the full
    // model's cycles for its tokens (FullModelCycles), once measured.
    const specFull = this.speculatedOnFull(p);
    if (p.coreKey === DENSE_KEY || !meter || p.speculated.ms > 0) {
      if (specFull !== null) {
        // Its decode steps' time with the time around them, against the full model's cycles.
        const S = p.own.decodeSteps;
        const decodeWall = p.own.decodeDenseMs + S * ledger.aroundStepMs(S > 0 ? p.own.decodeRows / S : p.n);
        if (w) windowLog(w, { probeMs: p.probeMs, embedMs: p.embedMs, decodeWall, specFull });
        return endToEndSpeedup(wall, p.own.prefillMs + decodeWall + p.probeMs + p.embedMs, p.own.prefillDenseMs + specFull);
      }
      // Its steps' dense equivalent (their own time on the full model, ratio 1; a speculating core's
      // rows take no plain decode steps, only their prefill has one); probe time too is part of the
      // wall time the client saw, and the full model would not have spent it.
      const denseMs = p.own.prefillDenseMs + p.own.decodeDenseMs;
      const cycles = this.fullModelCycles(p);
      if (w) windowLog(w, { probeMs: p.probeMs, embedMs: p.embedMs, speculated: p.speculated, fullModelCycles: cycles });
      // Speculative cycles: their time against the same cycles on the full model (the engine's
      // speculate), as many as the full model would have taken for the request's tokens.
      const spec = cycles === p.speculated.cycles ? p.speculated.denseMs : (p.speculated.denseMs * cycles) / p.speculated.cycles;
      return endToEndSpeedup(wall, p.own.prefillMs + p.own.decodeDenseMs + p.probeMs + p.embedMs + p.speculated.ms, denseMs + spec);
    }
    if (!w || p.own.prefillSteps + p.own.decodeSteps === 0) return null;
    const window = fullModelWindowParts(w, p.coreKey, p.own, { key: DENSE_KEY, stepMs: (b) => meter.denseMeanMs(b), aroundStepMs: (r) => ledger.aroundStepMs(r), prefillPerRow: ledger.prefillPerRow(DENSE_KEY), busy: (k) => this.d.hasWork(k) });
    const parts = specFull === null ? window : { ...window, ownDecodeRun: specFull, ownAround: 0 };
    const outside = wall - w.wallMs - p.embedMs;
    const full = outside + partsTotal(parts);
    windowLog(w, { fullMs: full, embedMs: p.embedMs, outside, parts });
    return Math.max(1e-3, full) / wall;
  }

  /**
   * For a request that did not speculate, though the same request on the full model would have (the
   * server speculates, and its sampling allows it): the full model's cycle time for its longest
   * candidate's tokens at its n (FullModelCycles.decodeMs); null otherwise or before measured.
   */
  private speculatedOnFull(p: ParentRequest): number | null {
    // Turned off by the load: the same request on the full model, beside the same load, would not have speculated either.
    if (!this.d.speculates || p.groupKey !== undefined || !p.loadAllowsSpeculation || !eligibleForSpeculation(p.req, [FULL_PLAN])) return null;
    const tokens = p.longestTokens();
    return tokens > 0 ? this.fullCycles.decodeMs(cycleKind(p.req), p.n, tokens) : null;
  }

  /**
   * How many cycles the full model would have taken for a speculated request's tokens (its longest
   * candidate's): a full-model request's own count (which then joins FullModelCycles); for other
   * plans, the full model's recent cycles per token of this kind of request, else its own count.
   */
  private fullModelCycles(p: ParentRequest): number {
    const { cycles } = p.speculated;
    if (cycles === 0) return 0;
    const tokens = p.longestTokens();
    const kind = cycleKind(p.req);
    if (p.groupKey === SPECULATIVE_KEY && allFullPlans(p.plans)) {
      this.fullCycles.record(kind, p.n, cycles, tokens, p.speculated.ms);
      return cycles;
    }
    const perToken = this.fullCycles.perToken(kind);
    return perToken === null || tokens === 0 ? cycles : perToken * tokens;
  }
}
