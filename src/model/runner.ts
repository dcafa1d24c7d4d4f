/**
 * Main-thread side of the model runtime: `loadRunner` starts a worker thread that owns the
 * onnxruntime session (its `run` blocks the thread it runs on) and returns a SamplingRunner.
 * Sequence lengths are mirrored here so `seqLength` is synchronous. Plans get ids (a WeakMap by
 * object) so each plan crosses the thread boundary once, and a plan the engine drops is dropped in
 * the worker on a later step; sampler specs cross once per sequence.
 *
 * A stall watchdog (`stallMs`): while calls are pending and the worker has sent nothing for that
 * long, the worker counts as hung (a run that never returns). The runner then fails like a dead
 * one (pending calls rejected, failure listeners told, so the server reopens the model), and the
 * hung thread is abandoned rather than terminated (terminating a thread inside onnxruntime's run
 * aborts the process): it is unreferenced, asked to close its model behind whatever it still has
 * queued, and terminated once it answers that, idle.
 */
import { Worker } from 'node:worker_threads';
import type { SkipPlan } from '../plans/plan.ts';
import type { LoadOptions, RuntimeInfo } from './load-options.ts';
import type { ModelInfo } from './model-info.ts';
import type { ForkSampled, SamplerSpec, SamplingRunner, SeqId, SkipCore, SpecRow, SpeculativeConfig, StepOptions, StepOutput, StepRow } from './runner-types.ts';
import type { CycleResult } from './speculative-cycle.ts';
import { makeGraphScratch, removeGraphScratch } from './graph-scratch.ts';
import { epochMs, type PackedStep, type WireRow, type WorkerRequest } from './worker-protocol.ts';

/** The runner's failure when its worker left calls unanswered past the stall time (a hang, not a crash). */
export class WorkerHungError extends Error {}

type Pending = { resolve: (v: any) => void; reject: (e: Error) => void };
type RequestBody = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

class WorkerRunner implements SamplingRunner {
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private lengths = new Map<SeqId, number>();
  private dead: Error | null = null;
  private closed = false;
  private planIds = new WeakMap<SkipPlan, number>();
  private nextPlan = 1;
  private dropped: number[] = [];
  private planGone = new FinalizationRegistry<number>((id) => this.dropped.push(id));
  /** The spec each sequence's sampler was created with in the worker. */
  private specs = new Map<SeqId, SamplerSpec>();
  /** Armed while calls are pending; refreshed by every message from the worker. */
  private watchdog: NodeJS.Timeout | null = null;
  /** The id of the close call sent to a hung worker (its answer means the thread is idle). */
  private abandonedClose: number | null = null;

  constructor(
    readonly info: ModelInfo,
    readonly runtime: RuntimeInfo,
    private worker: Worker,
    private readonly stallMs = 0,
  ) {
    worker.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      if (m.id === this.abandonedClose) {
        void worker.terminate();
        return;
      }
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      // Any answer is progress: the watch restarts for what is still pending, or ends.
      if (this.watchdog) {
        if (this.pending.size > 0) this.watchdog.refresh();
        else this.disarm();
      }
      if (!p) return;
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error));
    });
    const fail = (e: Error) => {
      const first = !this.dead;
      this.dead = e;
      this.disarm();
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      if (first && !this.closed) for (const cb of this.failureListeners.splice(0)) cb(e);
    };
    worker.on('error', (e) => fail(new Error(`model worker crashed: ${e.message}`)));
    this.onExit = (code: number) => fail(new Error(`model worker exited (code ${code})`));
    worker.on('exit', this.onExit);
    this.onStall = () => {
      this.watchdog = null;
      if (this.dead) return;
      this.abandon();
      fail(new WorkerHungError(`model worker hung: no answer for ${(this.stallMs / 1000).toFixed(1)} s (--stall-timeout)`));
    };
  }

  private readonly onStall: () => void;

  private disarm(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = null;
  }

  /** Leaves a hung worker to finish on its own: it closes its model when it gets there, then ends. */
  private abandon(): void {
    this.worker.off('exit', this.onExit);
    this.worker.unref();
    this.abandonedClose = this.nextId++;
    this.worker.postMessage({ op: 'close', id: this.abandonedClose });
  }

  private readonly onExit: (code: number) => void;
  private readonly failureListeners: ((err: Error) => void)[] = [];

  onFailure(cb: (err: Error) => void): void {
    if (this.dead && !this.closed) cb(this.dead);
    else if (!this.dead) this.failureListeners.push(cb);
  }

  private call<T>(req: RequestBody): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    if (this.stallMs > 0 && !this.watchdog) this.watchdog = setTimeout(this.onStall, this.stallMs).unref();
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id });
    });
  }

  async createSeq(): Promise<SeqId> {
    const id = await this.call<SeqId>({ op: 'create' });
    this.lengths.set(id, 0);
    return id;
  }

  async forkSeq(src: SeqId, count: number, length?: number): Promise<SeqId[]> {
    const ids = await this.call<SeqId[]>({ op: 'fork', src, count, ...(length === undefined ? {} : { length }) });
    for (const id of ids) this.lengths.set(id, length ?? this.lengths.get(src) ?? 0);
    return ids;
  }

  async forkSampled(src: SeqId, specs: SamplerSpec[]): Promise<ForkSampled> {
    const r = await this.call<ForkSampled>({ op: 'forkSampled', src, specs });
    r.seqs.forEach((id, i) => {
      this.lengths.set(id, this.lengths.get(src) ?? 0);
      this.specs.set(id, specs[i]);
    });
    return r;
  }

  async freeSeq(seq: SeqId): Promise<void> {
    this.lengths.delete(seq);
    this.specs.delete(seq);
    if (this.dead) return;
    await this.call<null>({ op: 'free', seq });
  }

  async speculate(rows: SpecRow[], cfg: SpeculativeConfig): Promise<CycleResult> {
    const defs: [number, SkipPlan][] = [];
    const wire = rows.map((r) => ({ seq: r.seq, last: r.last, plan: this.planId(r.plan, defs), spec: this.specs.get(r.seq) === r.spec ? (1 as const) : r.spec, maxDraft: r.maxDraft }));
    const draft = this.planId(cfg.draft, defs);
    const r = await this.call<CycleResult & { lengths: number[] }>({ op: 'speculate', rows: wire, draft, tokens: cfg.tokens, plans: defs, drop: this.dropped.splice(0) });
    rows.forEach((row, i) => {
      this.specs.set(row.seq, row.spec);
      if (this.lengths.has(row.seq)) this.lengths.set(row.seq, r.lengths[i]!);
    });
    return r;
  }

  seqLength(seq: SeqId): number {
    const n = this.lengths.get(seq);
    if (n === undefined) throw new Error(`unknown sequence ${seq}`);
    return n;
  }

  /** The id of `plan`, defining it in this message when the worker has not seen it. */
  private planId(plan: SkipPlan, defs: [number, SkipPlan][]): number {
    let id = this.planIds.get(plan);
    if (id === undefined) {
      id = this.nextPlan++;
      this.planIds.set(plan, id);
      this.planGone.register(plan, id);
      defs.push([id, plan]);
    }
    return id;
  }

  async step(rows: StepRow[], opts?: StepOptions): Promise<StepOutput> {
    const defs: [number, SkipPlan][] = [];
    const wire: WireRow[] = rows.map((r) => ({
      seq: r.seq,
      tokens: r.tokens,
      plan: this.planId(r.plan, defs),
      logits: r.logits,
      ...(r.embed ? { embed: true } : {}),
      ...(r.sample ? { sample: this.specs.get(r.seq) === r.sample ? (1 as const) : r.sample } : {}),
      ...(r.feedSampled ? { feedSampled: true } : {}),
      ...(r.score ? { score: r.score } : {}),
    }));
    const drop = this.dropped.splice(0);
    const sentAt = epochMs();
    const r = await this.call<PackedStep>({ op: 'step', rows: wire, plans: defs, drop, sentAt, ...(opts ? { opts } : {}) });
    const resolvedAt = epochMs();
    rows.forEach((row, i) => {
      if (row.sample) this.specs.set(row.seq, row.sample);
      const n = this.lengths.get(row.seq);
      if (n !== undefined) this.lengths.set(row.seq, n + r.fed[i]);
    });
    const t = r.timing;
    return {
      logits: r.logits.map((l) => (l ? new Float32Array(r.buffers[l.buf], l.offset, l.length) : new Float32Array(0))),
      embeddings: r.embeddings,
      sampled: r.sampled,
      scored: r.scored,
      fed: r.fed,
      runMs: r.runMs,
      graphs: r.graphs,
      buildMs: r.buildMs,
      timing: { toWorkerMs: t.startedAt - sentAt, prepMs: t.prepMs, runMs: t.runMs, afterMs: t.afterMs, sampleMs: t.sampleMs, toMainMs: resolvedAt - t.repliedAt },
    };
  }

  async prepareCores(cores: SkipCore[]): Promise<number> {
    return this.call<number>({ op: 'prepareCores', cores });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (!this.dead) {
      try {
        await this.call<null>({ op: 'close' });
      } catch {
        /* worker already gone: nothing to release */
      }
    }
    this.failureListeners.length = 0;
    this.worker.off('exit', this.onExit);
    // A hung worker is left to end itself (abandon): terminating it inside a run aborts the process.
    if (this.abandonedClose === null) await this.worker.terminate();
    this.dead ??= new Error('runner is closed');
  }
}

/** Starts the model worker and resolves once the session is ready; rejects with the load error. */
export function loadRunner(opts: LoadOptions): Promise<SamplingRunner> {
  // The entry registers tsx itself; flags that only make sense for the main script are dropped.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  // The weights' scratch directory is this thread's: a worker that crashed runs no exit hook.
  const scratchDir = opts.scratchDir ?? makeGraphScratch();
  const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: { ...opts, scratchDir }, execArgv });
  worker.once('exit', () => {
    if (!opts.scratchDir) removeGraphScratch(scratchDir);
  });
  return new Promise((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`model worker exited during load (code ${code})`));
    const onError = (e: Error) => reject(new Error(`model worker failed during load: ${e.message}`));
    worker.once('exit', onExit);
    worker.once('error', onError);
    worker.once('message', (m: { ready: boolean; info?: ModelInfo; runtime?: RuntimeInfo; error?: string }) => {
      worker.off('exit', onExit);
      worker.off('error', onError);
      if (m.ready) resolve(new WorkerRunner(m.info!, m.runtime!, worker, opts.stallMs));
      else {
        void worker.terminate();
        reject(new Error(m.error));
      }
    });
  });
}

export type { LoadOptions };
