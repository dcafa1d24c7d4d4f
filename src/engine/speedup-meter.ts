/**
 * The measured speedup of skip cores, trustworthy from the first request. Two windows of step
 * times are kept: per batch size, dense step times (dense probe steps, and the real steps of rows
 * that skip nothing); per (core, batch size), the real step times of that core. A core's ratio is
 * the median of the dense window over that of the core window: one step slowed by other work on
 * the machine moves it little, and every real step adds a sample for free. (A low quantile, the
 * uncontended ratio, overstated the end-to-end ratio on a busy machine: other work adds about the
 * same time to a dense and a core step, which brings their ratio towards 1.)
 * Dense probes run right before a core group's step when the dense window of its batch size is new
 * or stale: on each of a new batch size's first steps, then every PROBE_EVERY_MS while it is in
 * use, so the ratio is measured at the same batch shape and about the same moment, never taken
 * from a profile measured under other load. The probe rows are a small pool of dense sequences
 * per batch size (the real rows cannot be forked for it: they have no KV in the layers their core
 * skips), prefilled with filler tokens and topped up as the real contexts grow. The ratios give a
 * request's steps their dense equivalent, and the dense windows' mean step times the cost of a
 * merged dense step: inputs of the request's full-model counterfactual (full-model-wall.ts), whose
 * ratio to its wall time is the speedup it reports, end to end.
 */
import type { ModelRunner, SeqId } from '../model/runner-types.ts';
import { FULL_PLAN } from '../plans/plan.ts';

/** How often the dense window of a batch size in use gets a fresh probe (after its first ones). */
const PROBE_EVERY_MS = 1000;
/** A batch size's first this-many dense samples come from probes on consecutive steps: one is too noisy on a busy machine. */
const FIRST_PROBES = 3;
/** Step times kept per window. */
const WINDOW = 32;
/** The ratio compares this quantile (the median) of the dense and core step times. */
const QUANTILE = 0.5;
/** A probe pool whose context is this far from the real rows' (tokens, or this share of it) is topped up or rebuilt. */
const CONTEXT_SLACK = 32;

/** One step's time (ms) and the graph it ran on, when the runner says. */
export interface StepSample {
  ms: number;
  graph?: string;
}

/** Recent step times (ms), newest last. */
interface Window {
  ms: number[];
  /** When the newest sample was taken. */
  at: number;
  /** The graph the samples ran on: a core moves from the switched graph to its own after a few steps. */
  graph?: string;
}

function push(w: Window, ms: number, at: number, graph?: string): void {
  // Samples of another graph describe another cost: the window starts again.
  if (graph !== undefined && w.graph !== graph) {
    w.ms = [];
    w.graph = graph;
  }
  w.ms.push(ms);
  if (w.ms.length > WINDOW) w.ms.shift();
  w.at = at;
}

function typical(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(QUANTILE * s.length))]!;
}

/** Per (core, batch) dense/core step-time ratios from windows of dense and core step times. */
export class SpeedupMeter {
  /** Dense step times per batch size. */
  private readonly dense = new Map<number, Window>();
  /** Core step times per `${coreKey}#${batch}`. */
  private readonly cores = new Map<string, Window>();
  private readonly pools = new Map<number, { seqs: SeqId[]; context: number }>();
  /** Total time spent in probes (ms), for the stats. */
  probeMs = 0;
  probes = 0;

  constructor(private readonly runner: ModelRunner, private readonly now: () => number = () => performance.now()) {}

  private key(coreKey: string, batch: number): string {
    return `${coreKey}#${batch}`;
  }

  /** True when a core group of this batch size needs a dense probe before its step. */
  needsProbe(_coreKey: string, batch: number): boolean {
    const d = this.dense.get(batch);
    return !d || d.ms.length < FIRST_PROBES || this.now() - d.at > PROBE_EVERY_MS;
  }

  /**
   * Runs one dense decode step of `batch` pool rows at about context `context`. Returns its run time
   * in ms (`denseMs`) and all the time the probe took, building or topping up the pool included
   * (`spentMs`: the requests waited for it, the full model would not have). The caller runs its real step right after
   * and reports both through `record`.
   */
  async probe(batch: number, context: number): Promise<{ denseMs: number; spentMs: number; graph?: string }> {
    const out = await this.denseStep(batch, context);
    this.probes++;
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
      this.observe('', true, batch, d.denseMs, d.graph);
    }
    return n;
  }

  /** One dense step of the batch size's pool rows (building or topping the pool up first). */
  private async denseStep(batch: number, context: number): Promise<{ denseMs: number; spentMs: number; graph?: string }> {
    const t0 = this.now();
    const pool = await this.poolFor(batch, context);
    const out = await this.runner.step(pool.seqs.map((seq, i) => ({ seq, tokens: [filler(pool.context + i)], plan: FULL_PLAN, logits: 'none' as const })));
    pool.context++;
    return { denseMs: out.runMs, spentMs: Math.max(out.runMs, this.now() - t0), graph: out.graphs?.[0] };
  }

  /**
   * Records a real decode step: a dense group's step time is a dense sample, a core group's a core
   * sample. `graph` (the graph the step ran on, when the runner says) restarts a window whose
   * samples ran on another one.
   */
  observe(coreKey: string, dense: boolean, batch: number, ms: number, graph?: string): void {
    const at = this.now();
    if (dense) push(this.window(this.dense, batch), ms, at, graph);
    else push(this.window(this.cores, this.key(coreKey, batch)), Math.max(ms, 1e-6), at, graph);
  }

  /** Records a probe's dense step time and the core step right after it. */
  record(coreKey: string, batch: number, dense: StepSample, core: StepSample): void {
    this.observe(coreKey, true, batch, dense.ms, dense.graph);
    this.observe(coreKey, false, batch, core.ms, core.graph);
  }

  private window<K>(m: Map<K, Window>, k: K): Window {
    let w = m.get(k);
    if (!w) m.set(k, (w = { ms: [], at: 0 }));
    return w;
  }

  /** The dense pool of `batch` rows, at most CONTEXT_SLACK tokens behind `context` (never past the model's context). */
  private async poolFor(batch: number, context: number): Promise<{ seqs: SeqId[]; context: number }> {
    const max = this.runner.info.maxPositions - 2;
    const want = Math.max(1, Math.min(context, max));
    let pool = this.pools.get(batch);
    const slack = Math.max(CONTEXT_SLACK, want / 4);
    // A pool far longer than the rows is rebuilt; a little longer is kept (requests that start short
    // after long ones would otherwise rebuild it every time, and a decode step's time depends little on context).
    if (pool && (pool.context > 2 * want + slack || pool.context >= max)) {
      for (const s of pool.seqs) await this.runner.freeSeq(s);
      this.pools.delete(batch);
      pool = undefined;
    }
    if (!pool) {
      pool = { seqs: [], context: 0 };
      for (let i = 0; i < batch; i++) pool.seqs.push(await this.runner.createSeq());
      this.pools.set(batch, pool);
    }
    if (pool.context < want - slack || pool.context === 0) {
      const add = want - pool.context;
      const p = pool;
      await this.runner.step(p.seqs.map((seq, r) => ({ seq, tokens: Array.from({ length: add }, (_, t) => filler(p.context + t + r)), plan: FULL_PLAN, logits: 'none' as const })));
      p.context = want;
    }
    return pool;
  }

  /** Frees the probe pools (the engine is stopping). */
  async close(): Promise<void> {
    for (const p of this.pools.values()) for (const s of p.seqs) await this.runner.freeSeq(s);
    this.pools.clear();
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
   * dense steps at that size adds up to, spikes included. Where those windows are missing or hold
   * under FIRST_PROBES samples, denseStepMs's line.
   */
  denseMeanMs(batch: number): number | null {
    const mean = (b: number): number | null => {
      const w = this.dense.get(b);
      if (!w || w.ms.length < FIRST_PROBES) return null;
      const cap = 3 * typical(w.ms);
      return w.ms.reduce((sum, x) => sum + Math.min(x, cap), 0) / w.ms.length;
    };
    const lo = Math.floor(batch);
    const hi = Math.ceil(batch);
    const a = mean(lo);
    const b = hi === lo ? a : mean(hi);
    if (a === null || b === null) return this.denseStepMs(batch);
    return a + (b - a) * (batch - lo);
  }

  /**
   * Dense / core step-time ratio for this core and batch size (medians of the two windows);
   * for a batch size never measured, the nearest measured one of the same core (prefill steps);
   * 1 when the core was never measured.
   */
  ratio(coreKey: string, batch: number): number {
    let best: { d: number; ratio: number } | null = null;
    for (const [k, w] of this.cores) {
      const at = k.lastIndexOf('#');
      if (k.slice(0, at) !== coreKey) continue;
      const b = Number(k.slice(at + 1));
      const dense = this.dense.get(b);
      if (!dense || dense.ms.length === 0 || w.ms.length === 0) continue;
      const d = Math.abs(b - batch);
      if (!best || d < best.d) best = { d, ratio: Math.min(10, Math.max(0.1, typical(dense.ms) / typical(w.ms))) };
    }
    return best?.ratio ?? 1;
  }
}

/** A request's end-to-end speedup from its wall time, its steps' time and their dense equivalent. */
export function endToEndSpeedup(wallMs: number, runMs: number, denseMs: number): number | null {
  if (!(wallMs > 0) || runMs <= 0) return null;
  return Math.max(1e-3, wallMs - runMs + denseMs) / wallMs;
}

/** Filler token ids for the probe rows and the warm-up's prompts (any valid ids: a step's time does not depend on them). */
export function filler(i: number): number {
  return 3 + (i * 7) % 50;
}
