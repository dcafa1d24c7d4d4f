/**
 * Real server processes (bin/skipserve.mjs serve) over real stores. Two replicas share one PostgreSQL
 * store: a promotion made with the `skipserve versions` CLI makes both serve the new model without a
 * restart (its files come from the store, unpacked into each replica's own cache, or from a directory
 * both read), a rollback returns both, and a record written by one takes feedback through the other. And an acknowledged
 * feedback survives `kill -9` of the server (SQLite).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import { openSqliteStore } from '../src/store/sqlite-store.ts';
import { spawnServer, type SpawnedServer } from '../testkit/spawn-server.ts';
import { testCheckpoint, waitFor } from './helpers/start-server.ts';
import { freshDatabase, postgresForTests } from './helpers/store-postgres.ts';

const ROOT = join(import.meta.dirname, '..');
const root = mkdtempSync(join(tmpdir(), 'skipserve-replicas-'));
const A = testCheckpoint({ seed: 5 });
const B = testCheckpoint({ seed: 6 });
const pg = await postgresForTests();
const servers: SpawnedServer[] = [];
after(async () => {
  for (const s of servers) if (s.child.exitCode === null) s.child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

const args = (store: string, cache: string) => ['--model', A, '--store', store, '--version-cache-dir', cache, '--http-port', '0', '--grpc-port=-1', '--log-level', 'info', '--threads', '1', '--max-batch', '4', '--version-poll', '0.5'];
const cli = (...a: string[]) => promisify(execFile)(process.execPath, [join(ROOT, 'bin', 'skipserve.mjs'), 'versions', ...a], { cwd: ROOT });
const post = async (url: string, body: unknown) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};
const modelVersion = async (s: SpawnedServer) => ((await (await fetch(`${s.url}/v1/models`)).json()) as { data: { model_version: string }[] }).data[0]!.model_version;

async function stop(s: SpawnedServer): Promise<void> {
  if (s.child.exitCode !== null) return;
  s.child.kill('SIGTERM');
  await new Promise((r) => s.child.once('exit', r));
}

describe('two replicas sharing a PostgreSQL store', { skip: pg.skip }, () => {
  test('a promotion made with the CLI is served by both without a restart; records and feedback cross replicas', { timeout: 180_000 }, async () => {
    const db = await freshDatabase(pg.url!);
    try {
      const [one, two] = await Promise.all([spawnServer(args(db.url, join(root, 'cache-1'))), spawnServer(args(db.url, join(root, 'cache-2')))]);
      servers.push(one, two);
      assert.equal(await modelVersion(two), await modelVersion(one));
      // The first version by uri (a directory both replicas read), the second with its files in the store.
      assert.match((await cli('add', 'model', A, '--name', 'a', '--by-uri', '--promote', '--store', db.url)).stdout, /loaded from .*\npromoted model version a/);
      for (const s of [one, two]) await waitFor(async () => (await modelVersion(s)).startsWith('a@'), 60_000, 'version a serves');
      const base = await modelVersion(one);

      assert.match((await cli('add', 'model', B, '--name', 'b', '--store', db.url)).stdout, /model version b: sha256:[0-9a-f]{64} .*files stored; status candidate/);
      assert.match((await cli('promote', 'model', 'b', '--store', db.url)).stdout, /promoted model version b/);
      for (const s of [one, two]) await waitFor(async () => (await modelVersion(s)).startsWith('b@'), 60_000, 'the promoted model serves');

      const r = await post(`${one.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }], n: 2, max_tokens: 4, seed: 2 });
      assert.equal(r.status, 200);
      let rec: { status: number; body: Record<string, any> } = { status: 0, body: {} };
      await waitFor(async () => (rec = await post(`${two.url}/v1/feedback`, { id: r.body.id, source: 'grader', labels: [true, false] })).status === 200, 10_000, 'feedback through the other replica');
      const seen = (await (await fetch(`${one.url}/v1/requests/${r.body.id}`)).json()) as Record<string, any>;
      assert.match(seen.model_version, /^b@/);
      assert.deepEqual(seen.feedback.map((f: { labels: boolean[] }) => f.labels), [[true, false]]);

      assert.match((await cli('rollback', 'model', '--store', db.url)).stdout, /model version a .* is promoted again/);
      for (const s of [one, two]) await waitFor(async () => (await modelVersion(s)) === base, 60_000, 'the rollback serves');
      assert.match((await cli('list', '--store', db.url)).stdout, /model\s+b\s+retired/);
      await Promise.all([stop(one), stop(two)]);
    } finally {
      await db.drop();
    }
  });
});

test('an acknowledged feedback survives kill -9 of the server (SQLite)', { timeout: 120_000 }, async () => {
  const file = join(root, 'killed.sqlite');
  const s = await spawnServer(args(file, join(root, 'cache-k')));
  servers.push(s);
  const r = await post(`${s.url}/v1/completions`, { prompt: 'Q: 1+2? A:', n: 2, max_tokens: 4 });
  assert.equal(r.status, 200);
  const ack = await post(`${s.url}/v1/feedback`, { id: r.body.id, source: 'user', answer: '3' });
  assert.equal(ack.status, 200);
  s.child.kill('SIGKILL');
  await new Promise((done) => s.child.once('exit', done));
  const store = await openSqliteStore(file);
  try {
    const rec = await store.getRecord(r.body.id);
    assert.ok(rec, 'the record was committed before the feedback');
    assert.deepEqual(rec.feedback.map((f) => [f.source, f.answer]), [['user', '3']]);
    assert.equal(await store.integrityCheck(), 'ok');
  } finally {
    await store.close();
  }
});
