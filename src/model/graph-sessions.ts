/**
 * The onnxruntime sessions of one loaded model, all over graphs that read one weights file:
 * - the switched graph (a sublayer the whole batch skips is not run: its `If` takes the other branch);
 * - the masked graph, no switches, for steps in which every sublayer runs for some row (the dense
 *   path: full plans, head masks, per-row skips beside rows that compute);
 * - core graphs: the masked graph with a skip core the whole batch shares left out, so a step of
 *   that core pays no switch either. One is built once its core has run CORE_GRAPH_AFTER steps
 *   (a passing core never costs a build) and the `coreGraphs` most recently used are kept
 *   (default: as many as fit min(2 GiB, RAM/8) of packed weights); a graph in recent use is never
 *   released for another core's.
 * Two sessions rather than one graph with an `If` over both stacks: onnxruntime 1.30 did not
 * pre-pack weights read two subgraph levels down, and the switched stack inside such an `If` ran
 * 1.3x slower (skip core 25%, batch 8, 135M shape: 37.8 vs 29.1 ms/step). Each session pre-packs
 * the weights it reads, so each holds its own packed copy of them.
 */
import { rmSync } from 'node:fs';
import { totalmem } from 'node:os';
import ort from 'onnxruntime-node';
import type { Checkpoint } from './checkpoint.ts';
import { buildLlamaGraph, type GraphKind, type GraphOptions } from './graph/llama-graph.ts';
import type { LoadOptions } from './load-options.ts';
import { makeGraphScratch, removeGraphScratch } from './graph-scratch.ts';

/** Steps a skip core runs through the switched graph before its core graph is built. */
export const CORE_GRAPH_AFTER = 8;
/** A core graph used within this many steps (of any core) is not released for another one. */
export const RECENT_STEPS = 64;
/** Packed weights the default number of core graphs may hold: min(2 GiB, an eighth of the RAM). */
const CORE_GRAPH_BYTES = Math.min(2 * 2 ** 30, totalmem() / 8);

/** How many core graphs fit CORE_GRAPH_BYTES for these weights (at most 16, at least 1). */
export function defaultCoreGraphs(weightBytes: number): number {
  return Math.max(1, Math.min(16, Math.floor(CORE_GRAPH_BYTES / Math.max(weightBytes, 1))));
}
/** Cores remembered (counting steps) at most; the least recently used is forgotten first. */
const CORES_TRACKED = 256;

/** A core's name: the layers whose attention and MLP it skips, ascending. */
function coreKey(attention: readonly number[], mlp: readonly number[]): string {
  return `a${attention.join(',')}m${mlp.join(',')}`;
}

/** Which graph a step ran on. */
export type GraphUse = 'switched' | 'dense' | 'core';

interface CoreEntry {
  steps: number;
  usedAt: number;
  state: 'counting' | 'building' | 'ready' | 'failed';
  session: ort.InferenceSession | null;
}

export class GraphSessions {
  private readonly cores = new Map<string, CoreEntry>();
  private clock = 0;
  private files = 0;
  private closed = false;
  /** Core graphs built so far, and builds that failed (the switched graph served those cores). */
  readonly coreStats = { built: 0, failed: 0, evicted: 0, deferred: 0 };
  /** Milliseconds spent building core graphs since the last takeBuildMs (the worker was busy with it). */
  private buildMs = 0;

  /** Core graphs kept at most (0 without the dense path). */
  readonly coreLimit: number;

  private constructor(
    private readonly ck: Checkpoint,
    private readonly opts: LoadOptions,
    private readonly sessionOptions: ort.InferenceSession.SessionOptions,
    /** Holds weights.bin while the model lives (core graphs are built over it later). */
    private readonly dir: string,
    private readonly weights: Map<string, { offset: number; length: number }>,
  ) {
    this.coreLimit = opts.plain || !(opts.densePath ?? true) ? 0 : (opts.coreGraphs ?? defaultCoreGraphs(ck.f32Bytes));
  }

  /** The switched (or, for `plain`, the plain) graph's session. */
  switched!: ort.InferenceSession;
  /** The masked graph's session (null without the dense path). */
  dense: ort.InferenceSession | null = null;

  static async open(ck: Checkpoint, opts: LoadOptions, sessionOptions: ort.InferenceSession.SessionOptions): Promise<GraphSessions> {
    const dir = opts.scratchDir ?? makeGraphScratch();
    const s = new GraphSessions(ck, opts, sessionOptions, dir, new Map());
    try {
      s.switched = await s.create(opts.plain ? 'plain' : 'switched');
      if (!opts.plain && (opts.densePath ?? true)) s.dense = await s.create('masked');
      if (!s.coreLimit) removeGraphScratch(dir);
      return s;
    } catch (err) {
      await s.close();
      throw err;
    }
  }

  private async create(kind: GraphKind, omit?: GraphOptions['omit']): Promise<ort.InferenceSession> {
    const file = `model-${this.files++}.onnx`;
    const { path } = buildLlamaGraph(this.ck, { kind, omit, embedLayer: this.opts.embedLayer, weights: this.opts.weights }, { dir: this.dir, file, weights: this.weights });
    try {
      return await ort.InferenceSession.create(path!, this.sessionOptions);
    } finally {
      rmSync(path!, { force: true });
    }
  }

  /**
   * The session for a step whose sublayers run as `attnOn` / `mlpOn` say (true: some row computes
   * it). `switched` forces the switched graph (latency profiles time it).
   */
  pick(attnOn: readonly boolean[], mlpOn: readonly boolean[], switched = false): { session: ort.InferenceSession; use: GraphUse } {
    if (switched || !this.dense) return { session: this.switched, use: 'switched' };
    if (attnOn.every(Boolean) && mlpOn.every(Boolean)) return { session: this.dense, use: 'dense' };
    if (!this.coreLimit) return { session: this.switched, use: 'switched' };
    const attention = attnOn.flatMap((on, l) => (on ? [] : [l]));
    const mlp = mlpOn.flatMap((on, l) => (on ? [] : [l]));
    const key = coreKey(attention, mlp);
    let e = this.cores.get(key);
    if (!e) {
      e = { steps: 0, usedAt: 0, state: 'counting', session: null };
      this.cores.set(key, e);
      this.forgetOld();
    }
    e.steps++;
    e.usedAt = ++this.clock;
    if (e.state === 'ready') return { session: e.session!, use: 'core' };
    if (e.state === 'counting' && e.steps >= CORE_GRAPH_AFTER) void this.buildCore(e, { attention, mlp });
    return { session: this.switched, use: 'switched' };
  }

  /**
   * Builds a core's graph (the worker runs it between steps), first releasing the least recently
   * used beyond the limit. When every kept graph is in recent use, nothing is released and the core
   * stays on the switched graph for now (it counts its steps again): cores taking turns would
   * otherwise build and release graphs on end.
   */
  private async buildCore(e: CoreEntry, omit: NonNullable<GraphOptions['omit']>): Promise<void> {
    const ready = [...this.cores.values()].filter((x) => x.state === 'ready').sort((a, b) => a.usedAt - b.usedAt);
    const victims = ready.slice(0, Math.max(0, ready.length - this.coreLimit + 1));
    if (victims.some((v) => this.clock - v.usedAt < RECENT_STEPS)) {
      e.steps = 0;
      this.coreStats.deferred++;
      return;
    }
    e.state = 'building';
    for (const old of victims) {
      const s = old.session!;
      old.state = 'counting';
      old.steps = 0;
      old.session = null;
      this.coreStats.evicted++;
      await s.release();
    }
    const t0 = performance.now();
    try {
      const session = await this.create('masked', omit);
      if (this.closed) {
        await session.release(); // the model was closed while this graph was built
        return;
      }
      e.session = session;
      e.state = 'ready';
      this.coreStats.built++;
    } catch {
      e.state = 'failed';
      this.coreStats.failed++;
    }
    this.buildMs += performance.now() - t0;
  }

  /**
   * Builds the graph of a core that requests are expected to share (the server's default
   * latency-budget cores) before any request runs it, so the first requests pay no build. Keeps
   * within the limit and releases nothing; false when the core gets no graph now (no room, no dense
   * path, or the build failed). Its time is not charged to any request.
   */
  async prepare(omit: { attention: number[]; mlp: number[] }): Promise<boolean> {
    if (!this.coreLimit || (!omit.attention.length && !omit.mlp.length)) return false;
    const attention = [...omit.attention].sort((a, b) => a - b);
    const mlp = [...omit.mlp].sort((a, b) => a - b);
    const key = coreKey(attention, mlp);
    const e = this.cores.get(key) ?? { steps: 0, usedAt: 0, state: 'counting' as const, session: null };
    if (e.state === 'ready') return true;
    if (e.state === 'building') return false;
    if ([...this.cores.values()].filter((x) => x.state === 'ready').length >= this.coreLimit) return false;
    this.cores.set(key, e);
    this.forgetOld();
    e.state = 'building';
    try {
      const session = await this.create('masked', { attention, mlp });
      if (this.closed) {
        await session.release();
        return false;
      }
      e.session = session;
      e.state = 'ready';
      e.usedAt = this.clock;
      this.coreStats.built++;
      return true;
    } catch {
      e.state = 'failed';
      this.coreStats.failed++;
      return false;
    }
  }

  /** Build time since the last call (a step reports it: the requests waited for it, the full model would not have). */
  takeBuildMs(): number {
    const ms = this.buildMs;
    this.buildMs = 0;
    return ms;
  }

  /** Forgets the least recently used counting cores beyond CORES_TRACKED. */
  private forgetOld(): void {
    if (this.cores.size <= CORES_TRACKED) return;
    const counting = [...this.cores].filter(([, e]) => e.state === 'counting').sort((a, b) => a[1].usedAt - b[1].usedAt);
    for (const [k] of counting.slice(0, this.cores.size - CORES_TRACKED)) this.cores.delete(k);
  }

  /** Releases every session and the weights file. */
  async close(): Promise<void> {
    this.closed = true;
    for (const s of [this.switched, this.dense, ...[...this.cores.values()].map((e) => e.session)]) await s?.release();
    this.cores.clear();
    removeGraphScratch(this.dir);
  }
}
