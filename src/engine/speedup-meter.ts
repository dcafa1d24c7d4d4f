/**
 * The measured speedup of skip cores, trustworthy from the first request. Two windows of step
 * times are kept: per batch size, dense step times (dense probe steps, and the real steps of rows
 * that skip nothing); per (core, batch size), the real step times of that core. A core's ratio is
 * the median of the dense window over that of the core window: one step slowed by other work on
 * the machine moves it little, and every real step adds a sample for free. (A low quantile, the
 * uncontended ratio, overstated the end-to-end ratio on a busy machine: other work adds about the
 * same time to a dense and a core step, which brings their ratio towards 1.) Once the core has
 * FIRST_PROBES probe pairs (a probe and the core step right after it), the median of their ratios
 * replaces it: the windows can be of different ages (nearest()).
 * Dense probes run right before a core group's step when the dense window of its batch size is new
 * or stale: on each of a new batch size's first steps, then every PROBE_EVERY_MS while it is in
 * use, so the ratio is measured at the same batch shape and about the same moment, never taken
 * from a profile measured under other load. The probe rows are one pool of dense sequences (the
 * real rows cannot be forked for it: they have no KV in the layers their core skips), prefilled
 * with filler tokens and topped up as the real contexts grow; a probe of b rows runs the pool's
 * first b. Probes are measurement, not service: they may take PROBE_SHARE of the engine's step
 * time (after a start-up allowance); past it a due probe is skipped and the ratio comes from the
 * nearest batch size measured. (A pool per batch size, each probed on its first steps and topped
 * up as contexts grew, took 40% of the machine in a crowd of one core whose batch moved between
 * 56 and 64 rows: 2.0-2.8 s of every 5-6 s.) The ratio gives a request's steps their dense
 * equivalent (at a measured batch size a step's own time plus the ratio less 1 times the core
 * window's median, elsewhere the step's time times the ratio; prefills alike on a typical
 * prefill's time), and the dense windows' mean step times the cost of a
 * merged dense step: inputs of the request's full-model counterfactual (full-model-wall.ts), whose
 * ratio to its wall time is the speedup it reports, end to end. A speculating core's
 * verifications (rows x k + 1 positions) are measured the same way in their own windows: a dense
 * run of that shape on the probe rows right before the real verification (probeVerify,
 * recordVerify, verifyRatio; engine.ts `speculate`).
 */
import type { ModelRunner, SeqId } from '../model/runner-types.ts';
import { FULL_PLAN } from '../plans/plan.ts';
import { quantile } from '../plans/latency-profile.ts';

/** How often the dense window of a batch size in use gets a fresh probe (after its first ones). */
const PROBE_EVERY_MS = 1000;
/**
 * How often a verification window in use gets a fresh pair: its samples are pairs, measured
 * milliseconds apart, which hold as the machine's load moves; a verification probe costs k + 1
 * times a decode probe, with the pool's top-ups.
 */
const VERIFY_PROBE_EVERY_MS = 5000;
/** A batch size's first this-many dense samples come from probes on consecutive steps: one is too noisy on a busy machine. */
const FIRST_PROBES = 3;
/** Step times kept per window. */
const WINDOW = 32;
/** The ratio compares this quantile (the median) of the dense and core step times. */
const QUANTILE = 0.5;
/** Windows kept per map (core step times, core prefill times) before the least recently fed is forgotten. */
const MAX_WINDOWS = 256;
/** A probe row whose context is this far from the real rows' (tokens, or this share of it) is topped up or restarted. */
const CONTEXT_SLACK = 32;
/** Probes (with their pool's prefills) may take this share of the engine's real step time ... */
const PROBE_SHARE = 0.05;
/** ... beyond this allowance (ms), which lets a fresh server measure its first batch sizes. */
const PROBE_ALLOWANCE_MS = 1500;

/** A probe row: a dense sequence of filler tokens and its length. */
interface PoolRow {
  seq: SeqId;
  context: number;
}

/** One step's time (ms), the graph it ran on when the runner says, and its rows' mean context (tokens in their KV). */
export interface StepSample {
  ms: number;
  graph?: string;
  context?: number;
}

/** Recent step times (ms), newest last, and their rows' mean context (NaN: not known). */
interface Window {
  ms: number[];
  ctx: number[];
  /** When the newest sample was taken. */
  at: number;
  /** The graph the samples ran on: a core moves from the switched graph to its own after a few steps. */
  graph?: string;
}

function push(w: Window, ms: number, at: number, graph?: string, context = NaN): void {
  // Samples of another graph describe another cost: the window starts again.
  if (graph !== undefined && w.graph !== graph) {
    w.ms = [];
    w.ctx = [];
    w.graph = graph;
  }
  w.ms.push(ms);
  w.ctx.push(context);
  if (w.ms.length > WINDOW) {
    w.ms.shift();
    w.ctx.shift();
  }
  w.at = at;
}

function typical(xs: readonly number[]): number {
  return quantile(xs, QUANTILE);
}

/** Per (core, batch) dense/core step-time ratios from windows of dense and core step times. */
export class SpeedupMeter {
  /** Dense step times per batch size. */
  private readonly dense = new Map<number, Window>();
  /** Core step times per `${coreKey}#${batch}`. */
  private readonly cores = new Map<string, Window>();
  /** Per `${coreKey}#${batch}`, the dense / core ratio of each probe and the core step right after it. */
  private readonly pairs = new Map<string, Window>();
  /** Per core, its recent prefills' time per prompt token. */
  private readonly prefills = new Map<string, Window>();
  /**
   * Per `${coreKey}#${bucket}`, the dense / core ratio of a speculative verification (rows x
   * tokens): a dense probe of its shape and the real verification right after it. Row counts share
   * a window by power of two (rowBucket): a best-of-N request's rows end one by one, and a window
   * per count had its last cycles probe at every count (a fifth of a request's time on the default model).
   */
  private readonly verifies = new Map<string, Window>();
  /** The probe rows; a probe of b rows runs the first b. */
  private readonly pool: PoolRow[] = [];
  /** Total time spent in probes (ms), and the real steps' time, which bounds it. */
  probeMs = 0;
  private stepMs = 0;
  /** The dense step's cost per row and token of context (ms), and the dense sample count it was fitted at. */
  private perRowToken = { ms: 0, at: -1 };
  private denseSamples = 0;

  constructor(private readonly runner: ModelRunner, private readonly now: () => number = () => performance.now()) {}

  private key(coreKey: string, batch: number): string {
    return `${coreKey}#${batch}`;
  }

  /** A map's windows of one core (keyed by key()), each with its batch size or row bucket. */
  private *windowsOf(m: Map<string, Window>, coreKey: string): Generator<[number, Window]> {
    for (const [k, w] of m) {
      const at = k.lastIndexOf('#');
      if (k.slice(0, at) === coreKey) yield [Number(k.slice(at + 1)), w];
    }
  }

  /** True when a core group of this batch size needs a dense probe before its step (and the probe budget allows one). */
  needsProbe(_coreKey: string, batch: number): boolean {
    return this.due(this.dense.get(batch));
  }

  /** A window is due for a probe when new or stale (older than `every` ms), and the probe budget allows one. */
  private due(w: Window | undefined, every = PROBE_EVERY_MS): boolean {
    const due = !w || w.ms.length < FIRST_PROBES || this.now() - w.at > every;
    return due && this.probeMs <= PROBE_ALLOWANCE_MS + PROBE_SHARE * this.stepMs;
  }

  /** True when a skip core's speculative verification of `rows` rows needs a dense probe of its shape (probeVerify). */
  needsVerifyProbe(coreKey: string, rows: number): boolean {
    return this.due(this.verifies.get(this.key(coreKey, rowBucket(rows))), VERIFY_PROBE_EVERY_MS);
  }

  /**
   * A dense run of a speculative verification's shape (`rows` probe rows scoring `tokens` positions
   * each; `logits` as the verification returns them: a sampled row's come back whole), the dense
   * half of a pair whose other half is the core's verification right after it (recordVerify).
   * `budget` false (the start-up warm-up): outside the probe budget. Returns its run time and all
   * the time it took, the pool's upkeep included.
   */
  async probeVerify(rows: number, tokens: number, context: number, logits: 'none' | 'all', budget = true): Promise<{ denseMs: number; spentMs: number }> {
    const t0 = this.now();
    const pool = await this.poolFor(rows, context, tokens);
    const out = await this.runner.step(pool.map((r, i) => ({ seq: r.seq, tokens: Array.from({ length: tokens }, (_, t) => filler(r.context + t + i)), plan: FULL_PLAN, logits })));
    for (const r of pool) r.context += tokens;
    const spentMs = Math.max(out.runMs, this.now() - t0);
    if (budget) this.probeMs += spentMs;
    return { denseMs: out.runMs, spentMs };
  }

  /** Records a dense verification probe's run time and the core's verification right after it (graph: the core's graph). */
  recordVerify(coreKey: string, rows: number, denseMs: number, coreMs: number, graph?: string): void {
    push(this.window(this.verifies, this.key(coreKey, rowBucket(rows))), denseMs / Math.max(coreMs, 1e-6), this.now(), graph);
  }

  /**
   * The dense / core ratio of a speculative verification of `rows` rows under this core: the median
   * of the pairs of the nearest row-count bucket measured; else the core's decode-step ratio (ratio()).
   */
  verifyRatio(coreKey: string, rows: number): number {
    let best: Window | null = null;
    let gap = Infinity;
    for (const [b, w] of this.windowsOf(this.verifies, coreKey)) {
      const d = Math.abs(b - rowBucket(rows));
      if (w.ms.length > 0 && d < gap) [best, gap] = [w, d];
    }
    return best ? Math.min(10, Math.max(0.1, typical(best.ms))) : this.ratio(coreKey, rows);
  }

  /** Counts real model time that ran outside observe() (speculative cycles): the probe budget is a share of it. */
  ran(ms: number): void {
    this.stepMs += ms;
  }

  /**
   * Runs one dense decode step of `batch` pool rows at about context `context`. Returns its run time
   * in ms (`denseMs`) and all the time the probe took, building or topping up the pool included
   * (`spentMs`: the requests waited for it, the full model would not have). The caller runs its real step right after
   * and reports both through `record`.
   */
  async probe(batch: number, context: number): Promise<{ denseMs: number; spentMs: number; graph?: string; context: number }> {
    const out = await this.denseStep(batch, context);
    this.probeMs += out.spentMs;
    return out;
  }

  /**
   * Start-up warm-up of one batch size (engine.warmUp): the batch size gets its probe pool and its
   * dense window its first samples, so a request of this size starts with a measured baseline and
   * builds no pool. Returns the steps run.
   */
  async warmDense(batch: number, context: number, steps = FIRST_PROBES): Promise<number> {
    const n = Math.max(FIRST_PROBES, steps);
    for (let i = 0; i < n; i++) {
      const d = await this.denseStep(batch, context);
      this.observe('', true, batch, d.denseMs, d.graph, d.context);
    }
    return n;
  }

  /** One dense step of the pool's first `batch` rows (growing or topping the pool up first). */
  private async denseStep(batch: number, context: number): Promise<{ denseMs: number; spentMs: number; graph?: string; context: number }> {
    const t0 = this.now();
    const rows = await this.poolFor(batch, context);
    const at = rows.reduce((sum, r) => sum + r.context, 0) / rows.length;
    const out = await this.runner.step(rows.map((r, i) => ({ seq: r.seq, tokens: [filler(r.context + i)], plan: FULL_PLAN, logits: 'none' as const })));
    for (const r of rows) r.context++;
    return { denseMs: out.runMs, spentMs: Math.max(out.runMs, this.now() - t0), graph: out.graphs?.[0], context: at };
  }

  /**
   * Records a real decode step: a dense group's step time is a dense sample, a core group's a core
   * sample. `graph` (the graph the step ran on, when the runner says) restarts a window whose
   * samples ran on another one.
   */
  observe(coreKey: string, dense: boolean, batch: number, ms: number, graph?: string, context?: number): void {
    this.sample(coreKey, dense, batch, ms, graph, context);
    this.stepMs += ms;
  }

  /** Records a probe's dense step time alone (a probe at a request's own rows in a shared step: no core step of that size follows it). */
  recordDense(batch: number, dense: StepSample): void {
    this.sample('', true, batch, dense.ms, dense.graph, dense.context);
  }

  /** Records a probe's dense step time and the core step right after it. */
  record(coreKey: string, batch: number, dense: StepSample, core: StepSample): void {
    this.sample(coreKey, true, batch, dense.ms, dense.graph, dense.context);
    push(this.window(this.pairs, this.key(coreKey, batch)), dense.ms / Math.max(core.ms, 1e-6), this.now(), core.graph);
    this.observe(coreKey, false, batch, core.ms, core.graph, core.context);
  }

  private sample(coreKey: string, dense: boolean, batch: number, ms: number, graph?: string, context?: number): void {
    const at = this.now();
    if (dense) {
      push(this.window(this.dense, batch), ms, at, graph, context);
      this.denseSamples++;
    } else push(this.window(this.cores, this.key(coreKey, batch)), Math.max(ms, 1e-6), at, graph, context);
  }

  /** A map's window for a key, made when new; past MAX_WINDOWS the least recently fed is forgotten (clients can name any number of cores). */
  private window<K>(m: Map<K, Window>, k: K): Window {
    let w = m.get(k);
    if (!w) {
      if (m.size >= MAX_WINDOWS) {
        let oldest: K | undefined;
        let at = Infinity;
        for (const [key, x] of m) if (x.at < at) [oldest, at] = [key, x.at];
        m.delete(oldest!);
      }
      m.set(k, (w = { ms: [], ctx: [], at: this.now() }));
    }
    return w;
  }

  /**
   * The pool's first `batch` rows (the pool grows to it), each within CONTEXT_SLACK tokens below
   * `context`, with room for `room` more tokens in the model's context (a verification probe
   * feeds k + 1 at once; near the end of the context a row that lacks it starts again): short rows
   * are topped up together in one step;
   * a row far longer than `context` starts again (requests that start short after long ones would
   * otherwise top it up every time, and a decode step's time depends little on context).
   */
  private async poolFor(batch: number, context: number, room = 1): Promise<PoolRow[]> {
    const max = this.runner.info.maxPositions - room - 1;
    const want = Math.max(1, Math.min(context, max));
    const slack = Math.max(CONTEXT_SLACK, want / 4);
    while (this.pool.length < batch) this.pool.push({ seq: await this.runner.createSeq(), context: 0 });
    const rows = this.pool.slice(0, batch);
    for (const r of rows) {
      if (r.context > 2 * want + slack || r.context >= max) {
        await this.runner.freeSeq(r.seq);
        r.seq = await this.runner.createSeq();
        r.context = 0;
      }
    }
    const short = rows.filter((r) => r.context === 0 || r.context < want - slack);
    if (short.length) {
      await this.runner.step(short.map((r, i) => ({ seq: r.seq, tokens: Array.from({ length: want - r.context }, (_, t) => filler(r.context + t + i)), plan: FULL_PLAN, logits: 'none' as const })));
      for (const r of short) r.context = want;
    }
    return rows;
  }

  /** Frees the probe rows (the engine is stopping). */
  async close(): Promise<void> {
    for (const r of this.pool) await this.runner.freeSeq(r.seq);
    this.pool.length = 0;
  }

  /**
   * The dense step time (ms) at a batch size, possibly fractional: a least-squares line through the
   * dense windows' medians, weighted by their samples, never falling with the batch size (the
   * windows are of different ages on a machine whose load changes, so their medians alone are not
   * monotone); null before any dense step.
   */
  denseStepMs(batch: number): number | null {
    let n = 0;
    let sb = 0;
    let sm = 0;
    let sbb = 0;
    let sbm = 0;
    for (const [b, w] of this.dense) {
      if (w.ms.length === 0) continue;
      const k = w.ms.length;
      const m = typical(w.ms);
      n += k;
      sb += k * b;
      sm += k * m;
      sbb += k * b * b;
      sbm += k * b * m;
    }
    if (n === 0) return null;
    const meanB = sb / n;
    const meanM = sm / n;
    const varB = sbb / n - meanB * meanB;
    const slope = varB > 1e-9 ? Math.max(0, (sbm / n - meanB * meanM) / varB) : 0;
    return Math.max(1e-3, meanM + slope * (batch - meanB));
  }

  /**
   * The mean dense step time (ms) at a batch size, possibly fractional, from the windows of the
   * batch sizes around it (linear between them; samples past 3x the median clipped): what a run of
   * dense steps at that size adds up to, spikes included. At a given `context` (the rows' mean
   * tokens in their KV), each window's mean moves by the dense step's cost per row and token of
   * context times the batch size and the distance from the window's own mean context: a window
   * holds a request's last steps, at its longest context, and a request that starts short would
   * otherwise be given their cost (1.25x its own dense steps' at 8 rows and 160 tokens on the
   * default model). Where those windows are missing or hold under FIRST_PROBES samples,
   * denseStepMs's line.
   */
  denseMeanMs(batch: number, context?: number): number | null {
    const g = context === undefined ? 0 : this.costPerRowToken();
    const mean = (b: number): number | null => {
      const w = this.dense.get(b);
      if (!w || w.ms.length < FIRST_PROBES) return null;
      const cap = 3 * typical(w.ms);
      const m = w.ms.reduce((sum, x) => sum + Math.min(x, cap), 0) / w.ms.length;
      const known = w.ctx.filter((c) => Number.isFinite(c));
      if (g === 0 || known.length === 0) return m;
      const at = known.reduce((sum, c) => sum + c, 0) / known.length;
      return Math.max(0.25 * m, m + g * b * (context! - at));
    };
    const lo = Math.floor(batch);
    const hi = Math.ceil(batch);
    const a = mean(lo);
    const b = hi === lo ? a : mean(hi);
    if (a === null || b === null) return this.denseStepMs(batch);
    return a + (b - a) * (batch - lo);
  }

  /**
   * The dense step's cost per row and token of context (ms, never below 0): the slope of step time
   * in batch x context within each dense window (samples past 3x its median left out), pooled over
   * the windows; 0 until the windows' contexts spread over at least 16 tokens. Refitted when dense
   * samples have come in since.
   */
  private costPerRowToken(): number {
    if (this.perRowToken.at === this.denseSamples) return this.perRowToken.ms;
    let sxy = 0;
    let sxx = 0;
    let spread = 0;
    for (const [b, w] of this.dense) {
      const cap = 3 * typical(w.ms);
      const pts = w.ms.map((ms, i) => ({ x: b * w.ctx[i]!, y: ms })).filter((p) => Number.isFinite(p.x) && p.y <= cap);
      if (pts.length < FIRST_PROBES) continue;
      const mx = pts.reduce((sum, p) => sum + p.x, 0) / pts.length;
      const my = pts.reduce((sum, p) => sum + p.y, 0) / pts.length;
      for (const p of pts) {
        sxy += (p.x - mx) * (p.y - my);
        sxx += (p.x - mx) ** 2;
      }
      const xs = pts.map((p) => p.x / b);
      spread = Math.max(spread, Math.max(...xs) - Math.min(...xs));
    }
    const ms = spread >= 16 && sxx > 0 ? Math.max(0, sxy / sxx) : 0;
    this.perRowToken = { ms, at: this.denseSamples };
    return ms;
  }

  /**
   * Dense / core step-time ratio for this core and batch size (medians of the two windows);
   * for a batch size never measured, the nearest measured one of the same core (prefill steps);
   * 1 when the core was never measured.
   */
  ratio(coreKey: string, batch: number): number {
    return this.nearest(coreKey, batch)?.ratio ?? 1;
  }

  /**
   * A core decode step's dense equivalent (ms): at a batch size measured for this core, the step's
   * own time plus the typical saving (the ratio less 1, times the core window's median), so time
   * that other work added to this step (a spike, a descheduled thread) is added once, as it would
   * have been to the dense step, not scaled by the ratio (which read the slow steps of a 16-token
   * request up to 15% above the full model's); elsewhere the step's time times the nearest ratio.
   */
  denseEquivalentMs(coreKey: string, batch: number, ms: number): number {
    const n = this.nearest(coreKey, batch);
    if (!n) return ms;
    if (n.d > 0) return ms * n.ratio;
    return Math.min(10 * ms, Math.max(0.1 * ms, ms + (n.ratio - 1) * n.core));
  }

  /**
   * A core prefill's dense equivalent (ms) for `tokens` prompt tokens that took `ms` (its share of
   * the step): the saving the step-time ratio gives a typical prefill of this core (the median
   * time per token of its recent prefills, at most this one's), added to the prefill's own time.
   * (Scaled by the ratio, a prefill slowed by other work read twice the full model's on the wide
   * test checkpoint.) A core never measured: its own time.
   */
  prefillDenseEquivalentMs(coreKey: string, batch: number, ms: number, tokens: number): number {
    const w = this.window(this.prefills, coreKey);
    push(w, ms / Math.max(1, tokens), this.now());
    const n = this.nearest(coreKey, batch);
    if (!n) return ms;
    return Math.max(0.1 * ms, ms + (n.ratio - 1) * Math.min(ms, tokens * typical(w.ms)));
  }

  /**
   * The measured batch size of this core nearest `batch`: its distance, the core window's median
   * and the dense / core ratio: the median of its probe pairs' ratios once it has FIRST_PROBES of
   * them, else the two windows' medians' ratio. A pair is measured within milliseconds, so it holds
   * however the machine's load moves; the windows do not when only probes feed the dense window
   * (one a second: it spans half a minute while the core window spans a fraction of a second, and
   * with core-only traffic on a machine whose load moved, reports swung between 1.2 and 2.2 for a
   * 1.4x core).
   */
  private nearest(coreKey: string, batch: number): { d: number; ratio: number; core: number } | null {
    let best: { d: number; ratio: number; core: number } | null = null;
    for (const [b, w] of this.windowsOf(this.cores, coreKey)) {
      const dense = this.dense.get(b);
      if (!dense || dense.ms.length === 0 || w.ms.length === 0) continue;
      const d = Math.abs(b - batch);
      if (best && d >= best.d) continue;
      const cm = typical(w.ms);
      const pairs = this.pairs.get(this.key(coreKey, b));
      const r = pairs && pairs.ms.length >= FIRST_PROBES ? typical(pairs.ms) : typical(dense.ms) / cm;
      best = { d, ratio: Math.min(10, Math.max(0.1, r)), core: cm };
    }
    return best;
  }
}

/** The window of a verification of `rows` rows: the power of two at or above it (1, 2, 4, 8, ...). */
function rowBucket(rows: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, rows)));
}

/** A request's end-to-end speedup from its wall time, its steps' time and their dense equivalent. */
export function endToEndSpeedup(wallMs: number, runMs: number, denseMs: number): number | null {
  if (!(wallMs > 0) || runMs <= 0) return null;
  // Nothing saved or spent beyond the full model's own time (a full-model request): exactly 1, whatever the float rounding.
  if (denseMs === runMs) return 1;
  return Math.max(1e-3, wallMs - runMs + denseMs) / wallMs;
}

/** Filler token ids for the probe rows and the warm-up's prompts (any valid ids: a step's time does not depend on them). */
export function filler(i: number): number {
  return 3 + (i * 7) % 50;
}
