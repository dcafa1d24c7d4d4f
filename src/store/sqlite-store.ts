/**
 * The SQLite engine as seen from the main thread: every operation is a message to the store's
 * worker thread (sqlite-worker.ts), which owns the connection. The worker keeps the process alive
 * only while calls are outstanding.
 */
import { Worker } from 'node:worker_threads';
import type { MiningParams, StoreBackend } from './backend.ts';
import { QueuedStore } from './queued-store.ts';
import type { FeedbackRow } from './record-rows.ts';
import type { SqliteOps, WorkerCall, WorkerError } from './sqlite-worker.ts';
import type { JsonValue, NewVersion, ServedRecord, StoreOptions, VersionKind } from './types.ts';
import { VersionError, type VersionErrorCode } from './versions.ts';

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

const fromWire = (e: WorkerError): Error =>
  e.name === 'VersionError' ? new VersionError(e.code as VersionErrorCode, e.message) : Object.assign(new Error(e.message), { name: e.name });

class SqliteBackend implements StoreBackend {
  readonly engine = 'sqlite' as const;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  /** Why the worker is gone (it died on its own, or the store closed), else undefined. */
  private exited: Error | undefined;
  private closed = false;
  /** A new worker on the same file, starting after the previous one died. */
  private respawn: Promise<void> | null = null;
  /** Workers started after one died (SqliteStore.workerRespawns). */
  respawns = 0;

  constructor(
    private worker: Worker,
    private readonly path: string,
  ) {
    this.attach(worker);
  }

  private attach(worker: Worker): void {
    worker.on('message', (m: { id: number; result?: unknown; error?: WorkerError }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.error) p.reject(fromWire(m.error));
      else p.resolve(m.result);
    });
    const fail = (e: Error) => {
      if (worker !== this.worker) return;
      this.exited ??= e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', (e) => fail(new Error(`store worker failed: ${e.message}`)));
    worker.on('exit', (code) => fail(new Error(`store worker exited (code ${code})`)));
    worker.unref();
  }

  /**
   * Calls one worker operation. A worker that died on its own (what it had in flight failed with its
   * error) is replaced by a new one on the same file at the next call: SQLite's journal keeps every
   * committed write, so the store serves again instead of failing every later call.
   */
  async call<K extends keyof SqliteOps>(op: K, ...args: Parameters<SqliteOps[K]>): Promise<ReturnType<SqliteOps[K]>> {
    if (this.exited && !this.closed) {
      this.respawn ??= startWorker(this.path).then(
        (w) => {
          this.worker = w;
          this.attach(w);
          this.exited = undefined;
          this.respawns++;
          this.respawn = null;
        },
        (err: Error) => {
          this.respawn = null;
          throw err;
        },
      );
      await this.respawn;
    }
    if (this.exited) throw this.exited;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.ref();
      this.worker.postMessage({ id, op, args } satisfies WorkerCall);
    });
  }

  insertRecords = (records: ServedRecord[]) => this.call('insertRecords', records);
  addFeedback = (row: FeedbackRow, labelCount: number | null) => this.call('addFeedback', row, labelCount);
  getRecords = (ids: string[]) => this.call('getRecords', ids);
  deleteRecord = (id: string) => this.call('deleteRecord', id);
  mineIds = (q: MiningParams) => this.call('mineIds', q);
  addVersion = (v: NewVersion, now: number) => this.call('addVersion', v, now);
  listVersions = (kind: VersionKind | null) => this.call('listVersions', kind);
  versionFiles = (kind: VersionKind, name: string) => this.call('versionFiles', kind, name);
  promoted = () => this.call('promoted');
  promote = (kind: VersionKind, name: string, now: number) => this.call('promote', kind, name, now);
  refuse = (kind: VersionKind, name: string, report: JsonValue | null, now: number) => this.call('refuse', kind, name, report, now);
  rollback = (kind: VersionKind, now: number) => this.call('rollback', kind, now);
  versionSeq = () => this.call('versionSeq');

  /** Deletes in chunks, one worker call each, so record writes interleave with a long purge. */
  async deleteOlderThan(cutoff: number, chunk: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.call('deleteChunk', cutoff, chunk);
      total += n;
      if (n < chunk) return total;
    }
  }

  async close(): Promise<void> {
    await this.respawn?.catch(() => undefined);
    if (!this.exited) await this.call('close').catch(() => undefined);
    this.closed = true;
    this.exited ??= new Error('store worker exited: the store is closed');
    await this.worker.terminate();
  }
}

/** The SQLite store behind the shared RequestStore, with extras for tests and operators. */
export class SqliteStore extends QueuedStore {
  constructor(
    private readonly sqlite: SqliteBackend,
    opts: StoreOptions,
  ) {
    super(sqlite, opts);
  }

  /** Store workers started after one died on its own (sqlite-store.ts replaces a dead worker at the next call). */
  get workerRespawns(): number {
    return this.sqlite.respawns;
  }

  /** `PRAGMA integrity_check` of the database file: 'ok' when sound. */
  integrityCheck(): Promise<string> {
    return this.sqlite.call('integrityCheck');
  }
}

/** Starts a store worker on `path` and waits until it has opened the file (migrations applied). */
function startWorker(path: string): Promise<Worker> {
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  const worker = new Worker(new URL('./sqlite-worker-entry.mjs', import.meta.url), { workerData: { path }, execArgv });
  return new Promise<Worker>((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`store worker exited while opening ${path} (code ${code})`));
    const onError = (e: Error) => reject(new Error(`store worker failed while opening ${path}: ${e.message}`));
    worker.once('exit', onExit);
    worker.once('error', onError);
    worker.once('message', (m: { ready: boolean; error?: WorkerError }) => {
      worker.off('exit', onExit);
      worker.off('error', onError);
      if (m.ready) resolve(worker);
      else {
        void worker.terminate();
        reject(new Error(`cannot open store ${path}: ${m.error?.message}`));
      }
    });
  });
}

/**
 * Opens (creating when missing) the SQLite store at `path` in its own worker thread, applying
 * pending migrations; rejects with what went wrong (unwritable folder, newer schema, not a database).
 */
export async function openSqliteStore(path: string, opts: StoreOptions = {}): Promise<SqliteStore> {
  return new SqliteStore(new SqliteBackend(await startWorker(path), path), opts);
}
