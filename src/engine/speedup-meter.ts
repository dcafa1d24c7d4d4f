/**
 * The measured speedup of skip cores, trustworthy from the first request: now and then, right
 * before a decode step of rows that share a skip core, a dense probe step runs on the full model
 * with the same batch size at about the same context length, at the same moment, and the ratio
 * dense / core step time is kept per (core, batch size). The probe rows are a small pool of dense
 * sequences per batch size (the real rows cannot be forked for it: they have no KV in the layers
 * their core skips), prefilled with filler tokens and topped up as the real contexts grow. A
 * request's speedup is then its wall time with its step time replaced by the dense-equivalent
 * time, over its wall time: an end-to-end figure, measured against a measurement of the same batch
 * shape, never against a profile taken under other load. Probe steps are excluded from the
 * request's own time.
 */
import type { ModelRunner, SeqId } from '../model/runner-types.ts';
import { FULL_PLAN } from '../plans/plan.ts';

/** How often a (core, batch) ratio is re-measured while it is in use. */
const PROBE_EVERY_MS = 2000;
/** A probe pool whose context is this far from the real rows' (tokens, or this share of it) is topped up or rebuilt. */
const CONTEXT_SLACK = 32;
/** Weight of a new probe in the moving ratio (after the first few, which are averaged plainly). */
const ALPHA = 0.25;

interface RatioCell {
  ratio: number;
  samples: number;
  probedAt: number;
}

/** Per (core, batch) dense/core step-time ratios, refreshed by dense probe steps. */
export class SpeedupMeter {
  private readonly cells = new Map<string, RatioCell>();
  private readonly pools = new Map<number, { seqs: SeqId[]; context: number }>();
  /** Total time spent in probe steps (ms), for the stats. */
  probeMs = 0;
  probes = 0;

  constructor(private readonly runner: ModelRunner, private readonly now: () => number = () => performance.now()) {}

  private key(coreKey: string, batch: number): string {
    return `${coreKey}#${batch}`;
  }

  /** True when the rows of this core and batch size need a (fresh) dense probe before their step. */
  needsProbe(coreKey: string, batch: number): boolean {
    const c = this.cells.get(this.key(coreKey, batch));
    return !c || this.now() - c.probedAt > PROBE_EVERY_MS;
  }

  /**
   * Runs one dense decode step of `batch` pool rows at about context `context` and returns its run
   * time in ms (the pool is built or topped up first, outside the timing). The caller times its real
   * step right after and calls `record`.
   */
  async probe(batch: number, context: number): Promise<number> {
    const pool = await this.poolFor(batch, context);
    const out = await this.runner.step(pool.seqs.map((seq, i) => ({ seq, tokens: [filler(pool.context + i)], plan: FULL_PLAN, logits: 'last' as const })));
    pool.context++;
    this.probes++;
    this.probeMs += out.runMs;
    return out.runMs;
  }

  /** The dense pool of `batch` rows, at most CONTEXT_SLACK tokens behind `context` (never past the model's context). */
  private async poolFor(batch: number, context: number): Promise<{ seqs: SeqId[]; context: number }> {
    const max = this.runner.info.maxPositions - 2;
    const want = Math.max(1, Math.min(context, max));
    let pool = this.pools.get(batch);
    const slack = Math.max(CONTEXT_SLACK, want / 4);
    if (pool && (pool.context > want + slack || pool.context >= max)) {
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
      await this.runner.step(p.seqs.map((seq, r) => ({ seq, tokens: Array.from({ length: add }, (_, t) => filler(p.context + t + r)), plan: FULL_PLAN, logits: 'last' as const })));
      p.context = want;
    }
    return pool;
  }

  /** Frees the probe pools (the engine is stopping). */
  async close(): Promise<void> {
    for (const p of this.pools.values()) for (const s of p.seqs) await this.runner.freeSeq(s);
    this.pools.clear();
  }

  /** Records a probe's dense time against the real step time of the same rows. */
  record(coreKey: string, batch: number, denseMs: number, coreMs: number): void {
    const k = this.key(coreKey, batch);
    const sample = Math.min(10, Math.max(0.1, denseMs / Math.max(coreMs, 1e-6)));
    const c = this.cells.get(k);
    if (!c) {
      this.cells.set(k, { ratio: sample, samples: 1, probedAt: this.now() });
      return;
    }
    c.samples++;
    const a = Math.max(ALPHA, 1 / c.samples);
    c.ratio = (1 - a) * c.ratio + a * sample;
    c.probedAt = this.now();
  }

  /**
   * Dense / core step-time ratio for this core and batch size; for a batch size never probed, the
   * nearest probed one of the same core (prefill steps); 1 when the core was never measured.
   */
  ratio(coreKey: string, batch: number): number {
    const exact = this.cells.get(this.key(coreKey, batch));
    if (exact) return exact.ratio;
    let best: { d: number; ratio: number } | null = null;
    for (const [k, c] of this.cells) {
      const at = k.lastIndexOf('#');
      if (k.slice(0, at) !== coreKey) continue;
      const d = Math.abs(Number(k.slice(at + 1)) - batch);
      if (!best || d < best.d) best = { d, ratio: c.ratio };
    }
    return best?.ratio ?? 1;
  }
}

/** A request's end-to-end speedup from its wall time, its steps' time and their dense equivalent. */
export function endToEndSpeedup(wallMs: number, runMs: number, denseMs: number): number | null {
  if (!(wallMs > 0) || runMs <= 0) return null;
  return Math.max(1e-3, wallMs - runMs + denseMs) / wallMs;
}

/** Filler token ids for the probe rows (any valid ids: a dense step's time does not depend on them). */
function filler(i: number): number {
  return 3 + (i * 7) % 50;
}
