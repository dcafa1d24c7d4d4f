/**
 * Checks a request's guides in a worker thread (guide-check-worker.ts), so that turning a schema
 * or grammar into a pattern and compiling it (up to a few hundred milliseconds for a large one)
 * never stalls the event loop that streams every other request. One worker per engine, started at
 * the first guided request; a worker that dies is replaced at the next, and while none can start
 * the check runs here.
 */
import { Worker } from 'node:worker_threads';
import { checkGuides, guideCheckFields, type CheckedGuides, type GuideCheckFields } from './guide-checks.ts';

export class GuideChecker {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (c: CheckedGuides) => void; reject: (e: Error) => void }>();
  private closed = false;

  /** Both checks of a request, or null when it asks for no guide and no tool choice. */
  async check(spec: GuideCheckFields): Promise<CheckedGuides | null> {
    const fields = guideCheckFields(spec);
    if (!fields) return null;
    try {
      return await this.call(fields);
    } catch {
      return checkGuides(fields);
    }
  }

  /** Stops the worker; later checks run on the calling thread. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    await w?.terminate();
  }

  private call(fields: GuideCheckFields): Promise<CheckedGuides> {
    const w = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ id, fields });
    });
  }

  private start(): Worker {
    if (this.closed) throw new Error('the guide checker is closed');
    // A worker whose thread has ended (threadId -1) before its exit event was handled is replaced too.
    if (this.worker && this.worker.threadId !== -1) return this.worker;
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
    const w = new Worker(new URL('./guide-check-worker-entry.mjs', import.meta.url), { execArgv });
    w.unref();
    w.on('message', (m: { id: number; checked: CheckedGuides }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      p?.resolve(m.checked);
    });
    const fail = (err: Error) => {
      if (this.worker === w) this.worker = null;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`guide checker exited (code ${code})`)));
    this.worker = w;
    return w;
  }
}
