/**
 * Main-thread side of the model runtime: `loadRunner` starts a worker thread that owns the
 * onnxruntime session (its `run` blocks the thread it runs on) and returns a ModelRunner.
 * Sequence lengths are mirrored here so `seqLength` is synchronous.
 */
import { Worker } from 'node:worker_threads';
import type { LoadOptions } from './local-model.ts';
import type { ModelInfo } from './model-info.ts';
import type { ModelRunner, SeqId, StepOutput, StepRow } from './runner-types.ts';
import type { PackedStep, WorkerRequest } from './runner-worker.ts';

type Pending = { resolve: (v: any) => void; reject: (e: Error) => void };
type RequestBody = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

class WorkerRunner implements ModelRunner {
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private lengths = new Map<SeqId, number>();
  private dead: Error | null = null;

  constructor(
    readonly info: ModelInfo,
    private worker: Worker,
  ) {
    worker.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error));
    });
    const fail = (e: Error) => {
      this.dead = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', (e) => fail(new Error(`model worker crashed: ${e.message}`)));
    worker.on('exit', (code) => fail(new Error(`model worker exited (code ${code})`)));
  }

  private call<T>(req: RequestBody): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
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

  async forkSeq(src: SeqId, count: number): Promise<SeqId[]> {
    const ids = await this.call<SeqId[]>({ op: 'fork', src, count });
    for (const id of ids) this.lengths.set(id, this.lengths.get(src) ?? 0);
    return ids;
  }

  async freeSeq(seq: SeqId): Promise<void> {
    this.lengths.delete(seq);
    if (this.dead) return;
    await this.call<null>({ op: 'free', seq });
  }

  seqLength(seq: SeqId): number {
    const n = this.lengths.get(seq);
    if (n === undefined) throw new Error(`unknown sequence ${seq}`);
    return n;
  }

  async step(rows: StepRow[]): Promise<StepOutput> {
    const r = await this.call<PackedStep>({ op: 'step', rows });
    for (const row of rows) this.lengths.set(row.seq, (this.lengths.get(row.seq) ?? 0) + row.tokens.length);
    return {
      logits: r.logits.map((l) => new Float32Array(r.buffers[l.buf], l.offset, l.length)),
      embeddings: r.embeddings,
      runMs: r.runMs,
    };
  }

  async close(): Promise<void> {
    if (!this.dead) {
      try {
        await this.call<null>({ op: 'close' });
      } catch {
        /* worker already gone: nothing to release */
      }
    }
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
    this.dead = new Error('runner is closed');
  }
}

/** Starts the model worker and resolves once the session is ready; rejects with the load error. */
export function loadRunner(opts: LoadOptions): Promise<ModelRunner> {
  // The entry registers tsx itself; flags that only make sense for the main script are dropped.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: opts, execArgv });
  return new Promise((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`model worker exited during load (code ${code})`));
    const onError = (e: Error) => reject(new Error(`model worker failed during load: ${e.message}`));
    worker.once('exit', onExit);
    worker.once('error', onError);
    worker.once('message', (m: { ready: boolean; info?: ModelInfo; error?: string }) => {
      worker.off('exit', onExit);
      worker.off('error', onError);
      if (m.ready) resolve(new WorkerRunner(m.info!, worker));
      else {
        void worker.terminate();
        reject(new Error(m.error));
      }
    });
  });
}

export type { LoadOptions };
