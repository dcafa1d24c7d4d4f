/**
 * The SQLite store's worker thread: owns the better-sqlite3 connection and answers the main
 * thread's calls `{ id, op, args }` with `{ id, result }` or `{ id, error }`, one at a time, so
 * synchronous database I/O never runs on the event loop that serves requests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteDb } from './sqlite-db.ts';

/** The operations the main thread may call, by name. */
export function sqliteOps(db: SqliteDb) {
  return {
    insertRecords: db.insertRecords.bind(db),
    addFeedback: db.addFeedback.bind(db),
    getRecords: db.getRecords.bind(db),
    deleteRecord: db.deleteRecord.bind(db),
    deleteChunk: db.deleteChunk.bind(db),
    mineIds: db.mineIds.bind(db),
    integrityCheck: db.integrityCheck.bind(db),
    addVersion: db.versions.add.bind(db.versions),
    listVersions: db.versions.list.bind(db.versions),
    versionFiles: db.versions.files.bind(db.versions),
    promoted: db.versions.promoted.bind(db.versions),
    promote: db.versions.promote.bind(db.versions),
    refuse: db.versions.refuse.bind(db.versions),
    rollback: db.versions.rollback.bind(db.versions),
    versionSeq: db.versions.seq.bind(db.versions),
    close: db.close.bind(db),
  };
}

export type SqliteOps = ReturnType<typeof sqliteOps>;

export interface WorkerCall {
  id: number;
  op: keyof SqliteOps;
  args: unknown[];
}

/** An error as it crosses the thread boundary (VersionError keeps its code). */
export interface WorkerError {
  name: string;
  message: string;
  code?: string;
}

const toWire = (e: unknown): WorkerError =>
  e instanceof Error ? { name: e.name, message: e.message, code: (e as { code?: string }).code } : { name: 'Error', message: String(e) };

if (parentPort) {
  const port = parentPort;
  let ops: SqliteOps | undefined;
  try {
    ops = sqliteOps(new SqliteDb((workerData as { path: string }).path));
    port.postMessage({ ready: true });
  } catch (e) {
    port.postMessage({ ready: false, error: toWire(e) });
  }
  port.on('message', (call: WorkerCall) => {
    try {
      const fn = ops![call.op] as (...args: unknown[]) => unknown;
      port.postMessage({ id: call.id, result: fn(...call.args) });
    } catch (e) {
      port.postMessage({ id: call.id, error: toWire(e) });
    }
    if (call.op === 'close') port.close();
  });
}
