/**
 * PostgreSQL for the store tests. The rule: SKIPSERVE_TEST_PG_URL wins (.ci/run sources
 * .ci/postgres.sh, which sets it). In CI (CI set) a missing URL is an error, so PostgreSQL tests fail
 * rather than skip. Locally, without the variable, the helper starts (or reuses) a throwaway cluster
 * with .ci/postgres.sh, never installing anything; only when that fails do the tests skip, saying why.
 * Each test gets a database of its own (freshDatabase), dropped afterwards.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';

let cached: Promise<{ url?: string; skip?: string }> | undefined;

/** The base URL of the test server, or why PostgreSQL tests skip locally; throws in CI when none is set. */
export function postgresForTests(): Promise<{ url?: string; skip?: string }> {
  cached ??= (async () => {
    const env = process.env.SKIPSERVE_TEST_PG_URL;
    if (env) return { url: env };
    if (process.env.CI)
      throw new Error('SKIPSERVE_TEST_PG_URL is not set in CI: .ci/run must `source .ci/postgres.sh` before the tests');
    try {
      const script = join(import.meta.dirname, '..', '..', '.ci', 'postgres.sh');
      const out = execFileSync('bash', [script], { env: { ...process.env, SKIPSERVE_PG_NO_INSTALL: '1' }, encoding: 'utf8' });
      const url = /SKIPSERVE_TEST_PG_URL=(\S+)/.exec(out)?.[1];
      return url ? { url } : { skip: 'no PostgreSQL: .ci/postgres.sh printed no URL' };
    } catch (e) {
      return { skip: `no PostgreSQL here (set SKIPSERVE_TEST_PG_URL or install postgresql): ${(e as Error).message.split('\n')[0]}` };
    }
  })();
  return cached;
}

/** Creates an empty database on the server of `baseUrl`; returns its URL and a function that drops it. */
export async function freshDatabase(baseUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `skipserve_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Runs one query on the database at `url` (inspection in tests). */
export async function pgQuery(url: string, sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end();
  }
}
