/**
 * The SQLite store on a real database file in a temp folder: the shared behaviour suite, plus what
 * is SQLite's own (WAL mode, worker thread, a folder created on open, an unusable path refused).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../src/store/sqlite-store.ts';
import { minimalRecord } from './helpers/store-fixtures.ts';
import { storeContract } from './helpers/store-contract.ts';

const root = mkdtempSync(join(tmpdir(), 'skipserve-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

storeContract({
  name: 'sqlite',
  fresh: async () => {
    const dir = join(root, `s${n++}`);
    return { spec: join(dir, 'store.db'), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  },
  nul: '\u0000',
  open: (spec, opts) => openSqliteStore(spec, opts),
  migrationVersions: async (spec) => {
    const db = new Database(spec, { readonly: true });
    try {
      return db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all() as number[];
    } finally {
      db.close();
    }
  },
  addMigrationRow: async (spec, version) => {
    const db = new Database(spec);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)').run(version, 'future', Date.now());
    db.close();
  },
});

describe('sqlite store specifics', () => {
  it('creates its folder, uses WAL with synchronous FULL, and passes integrity_check', async () => {
    const path = join(root, 'nested', 'deeper', 'store.db');
    const store = await openSqliteStore(path);
    store.record(minimalRecord('w1'));
    await store.flush();
    assert.equal(await store.integrityCheck(), 'ok');
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
    await store.close();
  });

  it('refuses a file that is not a database, saying which', async () => {
    const path = join(root, 'garbage.db');
    writeFileSync(path, 'this is not a database, just text long enough to fill a header page '.repeat(20));
    await assert.rejects(openSqliteStore(path), /cannot open store .*garbage\.db: .*not a database/);
  });

  it('a store worker that dies on its own is replaced at the next call: committed rows stay, the store serves again', async () => {
    const store = await openSqliteStore(join(root, 'respawn.db'));
    store.record(minimalRecord('before'));
    await store.flush();
    const worker = (store as unknown as { sqlite: { worker: import('node:worker_threads').Worker } }).sqlite.worker;
    const gone = new Promise((r) => worker.once('exit', r));
    await worker.terminate(); // idle: as an uncaught error in the thread would end it
    await gone;
    assert.equal((await store.getRecord('before'))?.id, 'before', 'the committed record is read through a new worker');
    assert.equal(store.workerRespawns, 1);
    store.record(minimalRecord('after'));
    await store.flush();
    assert.equal((await store.addFeedback({ id: 'after', source: 'test', answer: '1' })).status, 'stored');
    assert.equal(await store.integrityCheck(), 'ok');
    await store.close();
    await assert.rejects(store.getRecord('before'), /store is closed/);
    assert.equal(store.workerRespawns, 1, 'a closed store starts no worker');
  });

  it('operations after close fail instead of hanging', async () => {
    const store = await openSqliteStore(join(root, 'closed.db'));
    await store.close();
    await assert.rejects(store.getRecord('x'), /store worker exited/);
    assert.equal(store.record(minimalRecord('late')), false);
  });
});
