/**
 * Skip cores of requests that finished a moment ago. Under a steady mixed load a core's requests
 * come and go: at the instant a request of another policy chooses its core, the core that a stream
 * of requests keeps using may have no row in flight, yet its next request is a step away. The
 * engine offers these cores beside the live ones to policies that may share a core
 * (router/shared-core.ts), with the rows of their last request.
 */
import type { SkipPlan } from '../plans/plan.ts';
import type { LiveCore } from '../router/shared-core.ts';

/** How long a finished request's core stays on offer (ms). */
export const RECENT_CORE_MS = 1000;

export class RecentCores {
  private readonly cores = new Map<string, { plan: SkipPlan; rows: number; at: number }>();

  constructor(private readonly windowMs = RECENT_CORE_MS) {}

  /** A request on `plan` (its core: no head masks) with `rows` candidates finished at `now`. */
  finished(key: string, plan: SkipPlan, rows: number, now = performance.now()): void {
    this.cores.delete(key);
    this.cores.set(key, { plan, rows, at: now });
    this.prune(now);
  }

  /** The cores used within the window, except those whose keys are in `live`. */
  recent(live: ReadonlySet<string>, now = performance.now()): LiveCore[] {
    this.prune(now);
    return [...this.cores].filter(([k]) => !live.has(k)).map(([, c]) => ({ plan: c.plan, rows: c.rows, recent: true }));
  }

  private prune(now: number): void {
    for (const [k, c] of this.cores) if (now - c.at > this.windowMs) this.cores.delete(k);
  }
}
