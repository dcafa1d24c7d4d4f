/**
 * What the machine did, per skip-core group, since the engine started: decode steps (run time, the
 * engine's own time around them, count, rows), prefill time (each prefill step's time shared among
 * the groups it fed, by tokens), and the time of dense probes and core-graph builds. A request
 * snapshots the ledger when it is admitted; the difference at its end is the load it ran beside,
 * which the full-model counterfactual of its speedup needs (full-model-wall.ts). Two recent rates
 * come with it: a group's prefill time per decoded row (how fast its requests renew) and the
 * engine's time around a decode step as a line in the step's rows (sampling, detokenizing and
 * streaming grow with the rows). Cheap: a few numbers per group in flight.
 */

/** Totals of one group (its skip core's key). */
export interface GroupTotals {
  /** Its decode steps' run time, and the engine's time around them (worker round trip, sampling, streaming). */
  decodeMs: number;
  aroundMs: number;
  decodeSteps: number;
  /** Sum over its decode steps of the rows in the step. */
  decodeRows: number;
  prefillMs: number;
  /** Prefill steps it took part in (a step feeding several groups counts for each). */
  prefillSteps: number;
  /** Dense probes run before its steps, and the time waited for its core graph. */
  probeMs: number;
  probeSteps: number;
}

/** Per-group totals; the runner steps of any kind (decode, prefill, probe) with their time, and the time around decode steps. */
interface Totals {
  groups: Map<string, GroupTotals>;
  steps: number;
  stepMs: number;
  aroundMs: number;
}

/** The ledger at one moment (`ids`: which life of each group its totals belong to). */
export interface LedgerSnapshot extends Totals {
  at: number;
  ids: Map<string, number>;
}

/** What happened between a snapshot and now, which was `wallMs` later. */
export interface LedgerWindow extends Totals {
  wallMs: number;
}

/** Per decode step, the recent rates' sums decay by this factor (a half-life of about 140 steps). */
const DECAY = 0.995;

/** Groups kept before idle ones are forgotten, and how long a group must be idle to be (ms). */
const MAX_GROUPS = 64;
const FORGET_IDLE_MS = 10 * 60_000;

/** Recent full-model steps (decayed count) the around-step line needs before it is used alone. */
const MIN_FIT_STEPS = 8;

interface Fit {
  n: number;
  x: number;
  y: number;
  xx: number;
  xy: number;
}

const emptyFit = (): Fit => ({ n: 0, x: 0, y: 0, xx: 0, xy: 0 });

function addToFit(f: Fit, x: number, y: number): void {
  f.n = f.n * DECAY + 1;
  f.x = f.x * DECAY + x;
  f.y = f.y * DECAY + y;
  f.xx = f.xx * DECAY + x * x;
  f.xy = f.xy * DECAY + x * y;
}

/** The fitted line at x (slope at least 0, value at least 0). */
function lineAt(f: Fit, x: number): number {
  if (f.n <= 0) return 0;
  const mx = f.x / f.n;
  const my = f.y / f.n;
  const vx = f.xx / f.n - mx * mx;
  const slope = vx > 1e-9 ? Math.max(0, (f.xy / f.n - mx * my) / vx) : 0;
  return Math.max(0, my + slope * (x - mx));
}

/** The ledger's group of prompt embeddings (policies that choose plans from the prompt's embedding). */
export const EMBED_KEY = '(embeddings)';

export const emptyGroupTotals = (): GroupTotals => ({ decodeMs: 0, aroundMs: 0, decodeSteps: 0, decodeRows: 0, prefillMs: 0, prefillSteps: 0, probeMs: 0, probeSteps: 0 });

export class LoadLedger {
  private readonly groups = new Map<string, GroupTotals>();
  /** Per group, which life it is in (a forgotten group that comes back starts a new one) and when it last did anything. */
  private readonly lives = new Map<string, { id: number; at: number }>();
  private nextLife = 1;
  private steps = 0;
  private stepMs = 0;
  private aroundMs = 0;
  /** Per group, decayed sums of its recent prefill time and decoded rows. */
  private readonly recent = new Map<string, { prefillMs: number; rows: number }>();
  /** Decayed least-squares sums of (rows, time around the step) over recent decode steps: all of them, and the full model's. */
  private readonly fitAll = emptyFit();
  private readonly fitDense = emptyFit();

  constructor(private readonly now: () => number = () => performance.now()) {}

  private group(key: string): GroupTotals {
    let g = this.groups.get(key);
    if (!g) {
      this.groups.set(key, (g = emptyGroupTotals()));
      this.lives.set(key, { id: this.nextLife++, at: 0 });
    }
    this.lives.get(key)!.at = this.now();
    return g;
  }

  /**
   * Forgets groups idle for FORGET_IDLE_MS once more than MAX_GROUPS are kept (clients can name
   * any number of cores); a window that began before a group was forgotten counts it from zero.
   */
  private forgetIdle(): void {
    if (this.groups.size <= MAX_GROUPS) return;
    const now = this.now();
    for (const [k, life] of this.lives) {
      if (now - life.at < FORGET_IDLE_MS) continue;
      this.groups.delete(k);
      this.lives.delete(k);
      this.recent.delete(k);
    }
  }

  private recentOf(key: string): { prefillMs: number; rows: number } {
    let r = this.recent.get(key);
    if (!r) this.recent.set(key, (r = { prefillMs: 0, rows: 0 }));
    return r;
  }

  /** One decode step of a group (`dense`: of the full model): `ms` in the runner, `aroundMs` more in the engine around it. */
  decoded(key: string, dense: boolean, rows: number, ms: number, aroundMs: number, fit = true): void {
    const g = this.group(key);
    g.decodeMs += ms;
    g.aroundMs += aroundMs;
    g.decodeSteps++;
    g.decodeRows += rows;
    this.steps++;
    this.stepMs += ms;
    this.aroundMs += aroundMs;
    const r = this.recentOf(key);
    r.prefillMs *= DECAY;
    r.rows = r.rows * DECAY + rows;
    if (!fit) return;
    addToFit(this.fitAll, rows, aroundMs);
    if (dense) addToFit(this.fitDense, rows, aroundMs);
  }

  /** One prefill step of `ms`, feeding `tokens` prompt tokens of each group key listed. */
  prefilled(fed: readonly { key: string; tokens: number }[], ms: number): void {
    const total = fed.reduce((s, f) => s + f.tokens, 0) || 1;
    const seen = new Set<string>();
    for (const f of fed) {
      const g = this.group(f.key);
      g.prefillMs += (ms * f.tokens) / total;
      if (!seen.has(f.key)) g.prefillSteps++;
      seen.add(f.key);
      this.recentOf(f.key).prefillMs += (ms * f.tokens) / total;
    }
    this.steps++;
    this.stepMs += ms;
  }

  /**
   * A policy's prompt embedding (one runner step of `ms`, between the loop's steps), kept as the
   * prefill of a group of its own (EMBED_KEY): it is other requests' work, done as they arrive, not
   * the loop's time outside steps (which a request's counterfactual charges per step).
   */
  embedded(ms: number): void {
    const g = this.group(EMBED_KEY);
    g.prefillMs += ms;
    g.prefillSteps++;
    this.steps++;
    this.stepMs += ms;
  }

  /** Time a group's step waited for a dense probe (`steps` runner steps) or its core graph. */
  probed(key: string, ms: number, steps: number): void {
    const g = this.group(key);
    g.probeMs += ms;
    g.probeSteps += steps;
    this.steps += steps;
    this.stepMs += ms;
  }

  /**
   * A group's recent prefill time per decoded row (ms per row and step): how fast its requests
   * renew, counted in its own decoding. A request's window alone holds too few prefills to say.
   */
  prefillPerRow(key: string): number {
    const r = this.recent.get(key);
    return r && r.rows > 0 ? r.prefillMs / r.rows : 0;
  }

  /**
   * The engine's recent time around a full-model decode step of `rows` rows (a line in the rows,
   * never falling); from every group's steps while too few of the full model's are recent.
   */
  aroundStepMs(rows: number): number {
    return lineAt(this.fitDense.n >= MIN_FIT_STEPS ? this.fitDense : this.fitAll, rows);
  }

  snapshot(): LedgerSnapshot {
    this.forgetIdle();
    const ids = new Map([...this.lives].map(([k, life]) => [k, life.id]));
    return { at: this.now(), groups: new Map([...this.groups].map(([k, g]) => [k, { ...g }])), ids, steps: this.steps, stepMs: this.stepMs, aroundMs: this.aroundMs };
  }

  /** What happened since `from` (a snapshot). */
  since(from: LedgerSnapshot): LedgerWindow {
    const groups = new Map<string, GroupTotals>();
    for (const [k, g] of this.groups) {
      const f = (from.ids.get(k) === this.lives.get(k)?.id && from.groups.get(k)) || emptyGroupTotals();
      const d = emptyGroupTotals();
      for (const field of Object.keys(d) as (keyof GroupTotals)[]) d[field] = g[field] - f[field];
      if (d.decodeSteps || d.prefillSteps || d.probeSteps || d.probeMs) groups.set(k, d);
    }
    return { wallMs: this.now() - from.at, groups, steps: this.steps - from.steps, stepMs: this.stepMs - from.stepMs, aroundMs: this.aroundMs - from.aroundMs };
  }
}
