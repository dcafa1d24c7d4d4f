/**
 * A store that does not answer (here: PostgreSQL tables locked by another session, as a stuck
 * transaction or a migration elsewhere would hold them) does not leave clients waiting: record
 * lookups and feedback answer 503 `unavailable` with Retry-After (gRPC UNAVAILABLE) once
 * --store-timeout has passed, completions are still served, and once the store answers again the
 * same feedback sent again is stored.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { startTestServer, waitFor, type TestServer } from './helpers/start-server.ts';
import { freshDatabase, postgresForTests } from './helpers/store-postgres.ts';
import { inferenceClient } from './helpers/grpc-client.ts';

const pgServer = await postgresForTests();

describe('a PostgreSQL store that hangs', { skip: pgServer.skip }, () => {
  let server: TestServer;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let client: grpc.Client & Record<string, Function>;
  before(async () => {
    db = await freshDatabase(pgServer.url!);
    server = await startTestServer({ store: db.url, storeTimeout: 1 });
    client = inferenceClient(server.grpcPort);
  });
  after(async () => {
    client?.close();
    await server?.close();
    await db?.drop();
  });

  const http = async (path: string, body?: unknown) => {
    const res = await fetch(`${server.http}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, any> };
  };

  test('lookups and feedback answer 503 after --store-timeout; completions are served; a repeat is stored once it answers', async () => {
    const done = await http('/v1/completions', { prompt: 'hello', max_tokens: 3 });
    assert.equal(done.status, 200);
    const id = done.body.id as string;
    await waitFor(async () => (await http(`/v1/requests/${id}`)).status === 200, 10_000, 'the record written');

    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE requests, feedback IN ACCESS EXCLUSIVE MODE');
    try {
      let t0 = performance.now();
      const lookup = await http(`/v1/requests/${id}`);
      assert.equal(lookup.status, 503, JSON.stringify(lookup.body));
      assert.equal(lookup.body.error.code, 'unavailable');
      assert.match(lookup.body.error.message, /did not answer within 1 s \(--store-timeout\)/);
      assert.ok(lookup.retryAfter, 'Retry-After on the 503');
      assert.ok(performance.now() - t0 < 5000, 'answered at the timeout, not when the lock went');

      t0 = performance.now();
      const fb = await http('/v1/feedback', { id, source: 'judge', answer: '5' });
      assert.equal(fb.status, 503, JSON.stringify(fb.body));
      assert.match(fb.body.error.message, /--store-timeout.*sending it again is safe/);
      assert.ok(performance.now() - t0 < 5000);

      const rpc = await new Promise<grpc.ServiceError | null>((resolve) => client.Feedback!({ id, source: 'grpc', answer: '5' }, (e: grpc.ServiceError | null) => resolve(e)));
      assert.equal(rpc?.code, grpc.status.UNAVAILABLE);

      const served = await http('/v1/completions', { prompt: 'still serving', max_tokens: 3 });
      assert.equal(served.status, 200, 'completions do not wait for the store');
    } finally {
      await locker.query('COMMIT');
      await locker.end();
    }

    const again = await http('/v1/feedback', { id, source: 'judge', answer: '5' });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    const rec = await http(`/v1/requests/${id}`);
    assert.equal(rec.status, 200);
    assert.equal(rec.body.feedback.filter((f: { source: string }) => f.source === 'judge').length, 1, 'stored once');
  });
});
