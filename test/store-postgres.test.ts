/**
 * The PostgreSQL store on a real server (each test in a database of its own): the shared behaviour
 * suite, plus replicas: concurrent first opens migrate once, and a promotion made by one replica
 * reaches another through LISTEN/NOTIFY, and through polling when notifications are not heard.
 *
 * Server rule (test/helpers/store-postgres.ts): SKIPSERVE_TEST_PG_URL is used when set, as .ci/run
 * sets it; in CI a missing URL fails these tests; locally they start a throwaway cluster with
 * .ci/postgres.sh and skip only when that fails.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { openPostgresStore } from '../src/store/postgres-store.ts';
import type { PromotedVersions, RequestStore, StoreEvent } from '../src/store/types.ts';
import { storeContract, waitFor } from './helpers/store-contract.ts';
import { minimalRecord } from './helpers/store-fixtures.ts';
import { freshDatabase, pgQuery, postgresForTests } from './helpers/store-postgres.ts';

const server = await postgresForTests();

storeContract({
  name: 'postgres',
  skip: server.skip,
  fresh: async () => {
    const db = await freshDatabase(server.url!);
    return { spec: db.url, cleanup: db.drop };
  },
  nul: '\ufffd',
  open: (spec, opts) => openPostgresStore(spec, opts),
  migrationVersions: async (spec) => (await pgQuery(spec, 'SELECT version FROM schema_migrations ORDER BY version')).map((r) => Number(r.version)),
  addMigrationRow: async (spec, version) => {
    await pgQuery(spec, 'INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)', [version, 'future', Date.now()]);
  },
});

describe('postgres replicas', { skip: server.skip }, () => {
  const drops: (() => Promise<void>)[] = [];
  const stores: RequestStore[] = [];
  after(async () => {
    for (const s of stores) await s.close();
    for (const d of drops) await d();
  });
  const database = async () => {
    const db = await freshDatabase(server.url!);
    drops.push(db.drop);
    return db.url;
  };

  it('three replicas opening an empty database at once apply each migration once', async () => {
    const url = await database();
    stores.push(...(await Promise.all([0, 1, 2].map(() => openPostgresStore(url)))));
    assert.deepEqual((await pgQuery(url, 'SELECT version FROM schema_migrations')).map((r) => Number(r.version)).sort(), [1, 2, 3]);
    stores[0].record(minimalRecord('from-a'));
    stores[1].record(minimalRecord('from-b'));
    await Promise.all(stores.map((s) => s.flush()));
    assert.equal((await stores[2].getRecord('from-a'))?.id, 'from-a');
    assert.equal((await stores[2].getRecord('from-b'))?.id, 'from-b');
  });

  it('a record PostgreSQL refuses (an integer past its range) costs only itself: the rest of its batch is written', async () => {
    const url = await database();
    const events: StoreEvent[] = [];
    const s = await openPostgresStore(url, { onEvent: (e) => events.push(e) });
    stores.push(s);
    const huge = { ...minimalRecord('too-many-tokens'), promptTokens: 2 ** 31 };
    for (const r of [minimalRecord('before'), huge, minimalRecord('after')]) assert.equal(s.record(r), true);
    await s.flush();
    assert.deepEqual([s.stats().written, s.stats().failed], [2, 1]);
    assert.equal((await s.getRecord('before'))?.id, 'before');
    assert.equal((await s.getRecord('after'))?.id, 'after');
    assert.equal(await s.getRecord('too-many-tokens'), null);
    const failed = events.filter((e) => e.type === 'write_error');
    assert.equal(failed.length, 1);
    assert.match(failed[0]!.type === 'write_error' ? failed[0]!.error.message : '', /out of range/);
  });

  it('a promotion on one replica reaches the other by NOTIFY (polling slowed to an hour)', async () => {
    const url = await database();
    const a = await openPostgresStore(url);
    const b = await openPostgresStore(url, { versionPollMs: 3_600_000 });
    stores.push(a, b);
    const seen: PromotedVersions[] = [];
    const stop = b.versions.watch((p) => seen.push(p));
    await waitFor(() => seen.length >= 1, 'the initial call');
    await a.versions.add({ kind: 'selector', name: 's1', hash: 'sha256:s1', uri: '/sel/1.onnx' });
    await a.versions.promote('selector', 's1');
    await waitFor(() => seen.at(-1)?.selector?.name === 's1', 'the NOTIFY of s1');
    stop();
  });

  it('with its listener connection killed, a replica still learns of a promotion by polling', async () => {
    const url = await database();
    const a = await openPostgresStore(url);
    const b = await openPostgresStore(url, { versionPollMs: 100 });
    stores.push(a, b);
    const seen: PromotedVersions[] = [];
    const stop = b.versions.watch((p) => seen.push(p));
    await waitFor(() => seen.length >= 1, 'the initial call');
    const dbName = new URL(url).pathname.slice(1);
    await pgQuery(server.url!, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'", [dbName]);
    await a.versions.add({ kind: 'model', name: 'm1', hash: 'sha256:m1', uri: '/m/1' });
    await a.versions.promote('model', 'm1');
    await waitFor(() => seen.at(-1)?.model?.name === 'm1', 'the promotion of m1');
    stop();
  });
});
