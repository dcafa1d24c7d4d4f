/**
 * Version operations of the PostgreSQL engine. Every change locks the versions table against other
 * changes (SHARE ROW EXCLUSIVE: readers go on), appends to version_events and sends
 * NOTIFY skipserve_versions, which PostgreSQL delivers to listening replicas at commit.
 */
import { withoutNul } from './postgres-text.ts';
import type pg from 'pg';
import type { JsonValue, NewVersion, PromotedVersions, VersionFile, VersionKind, VersionRecord } from './types.ts';
import { checkReAdd, rollbackTarget, type VersionEventRow, VersionError, versionFromRow } from './versions.ts';

/** The channel replicas LISTEN on for version changes. */
export const VERSIONS_CHANNEL = 'skipserve_versions';

type Tx = <T>(fn: (c: pg.PoolClient) => Promise<T>) => Promise<T>;
type Query = (sql: string, params?: unknown[]) => Promise<pg.QueryResult>;

const COLUMNS = 'kind, name, hash, uri, created_at_ms, status, promoted_at_ms, report::text AS report';

async function find(c: pg.PoolClient, kind: VersionKind, name: string): Promise<VersionRecord | null> {
  const r = await c.query(`SELECT ${COLUMNS} FROM versions WHERE kind = $1 AND name = $2`, [kind, name]);
  return r.rows[0] ? versionFromRow(r.rows[0]) : null;
}

async function require(c: pg.PoolClient, kind: VersionKind, name: string): Promise<VersionRecord> {
  const v = await find(c, kind, name);
  if (!v) throw new VersionError('not_found', `no ${kind} version named ${name}`);
  return v;
}

/** Takes the versions change lock for this transaction. */
const lock = (c: pg.PoolClient) => c.query('LOCK TABLE versions IN SHARE ROW EXCLUSIVE MODE');

async function event(c: pg.PoolClient, kind: VersionKind, name: string, action: string, now: number): Promise<void> {
  const r = await c.query('INSERT INTO version_events (kind, name, action, at_ms) VALUES ($1, $2, $3, $4) RETURNING seq', [kind, name, action, now]);
  await c.query('SELECT pg_notify($1, $2)', [VERSIONS_CHANNEL, String(r.rows[0].seq)]);
}

async function setPromoted(c: pg.PoolClient, kind: VersionKind, name: string, now: number): Promise<void> {
  await c.query("UPDATE versions SET status = 'retired' WHERE kind = $1 AND status = 'promoted'", [kind]);
  await c.query("UPDATE versions SET status = 'promoted', promoted_at_ms = $3 WHERE kind = $1 AND name = $2", [kind, name, now]);
}

/** The version operations over a pool's transactions and plain queries. */
export function postgresVersions(tx: Tx, query: Query) {
  return {
    addVersion: (v: NewVersion, now: number) =>
      tx(async (c) => {
        await lock(c);
        const existing = await find(c, v.kind, v.name);
        if (existing) return checkReAdd(existing, v);
        await c.query(
          "INSERT INTO versions (kind, name, hash, uri, created_at_ms, status, report) VALUES ($1, $2, $3, $4, $5, 'candidate', $6::jsonb)",
          [v.kind, v.name, v.hash, withoutNul(v.uri), now, v.report === undefined ? null : JSON.stringify(withoutNul(v.report))],
        );
        for (const f of v.files ?? [])
          await c.query('INSERT INTO version_files (kind, name, path, size, bytes) VALUES ($1, $2, $3, $4, $5)', [
            v.kind,
            v.name,
            f.path,
            f.bytes.byteLength,
            Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength),
          ]);
        await event(c, v.kind, v.name, 'add', now);
        return require(c, v.kind, v.name);
      }),

    listVersions: async (kind: VersionKind | null) => {
      const r = await query(
        `SELECT ${COLUMNS} FROM versions WHERE $1::text IS NULL OR kind = $1 ORDER BY created_at_ms DESC, name DESC`,
        [kind],
      );
      return r.rows.map(versionFromRow);
    },

    versionFiles: async (kind: VersionKind, name: string): Promise<VersionFile[]> => {
      const r = await query('SELECT path, bytes FROM version_files WHERE kind = $1 AND name = $2 ORDER BY path', [kind, name]);
      return r.rows.map((row) => ({ path: String(row.path), bytes: row.bytes as Buffer }));
    },

    promoted: async (): Promise<PromotedVersions> => {
      const r = await query(`SELECT (SELECT COALESCE(MAX(seq), 0) FROM version_events) AS seq,
        (SELECT json_agg(json_build_object('kind', kind, 'name', name, 'hash', hash, 'uri', uri, 'created_at_ms', created_at_ms,
          'status', status, 'promoted_at_ms', promoted_at_ms, 'report', report::text)) FROM versions WHERE status = 'promoted') AS rows`);
      const rows = ((r.rows[0].rows ?? []) as Record<string, unknown>[]).map(versionFromRow);
      const of = (k: VersionKind) => rows.find((v) => v.kind === k) ?? null;
      return { model: of('model'), selector: of('selector'), seq: Number(r.rows[0].seq) };
    },

    promote: (kind: VersionKind, name: string, now: number) =>
      tx(async (c) => {
        await lock(c);
        const target = await require(c, kind, name);
        if (target.status === 'promoted') return target;
        await setPromoted(c, kind, name, now);
        await event(c, kind, name, 'promote', now);
        return require(c, kind, name);
      }),

    refuse: (kind: VersionKind, name: string, report: JsonValue | null, now: number) =>
      tx(async (c) => {
        await lock(c);
        const target = await require(c, kind, name);
        if (target.status === 'promoted') throw new VersionError('conflict', `${kind} version ${name} is promoted: roll back first`);
        await c.query("UPDATE versions SET status = 'refused', report = COALESCE($3::jsonb, report) WHERE kind = $1 AND name = $2", [
          kind,
          name,
          report === null ? null : JSON.stringify(withoutNul(report)),
        ]);
        await event(c, kind, name, 'refuse', now);
        return require(c, kind, name);
      }),

    rollback: (kind: VersionKind, now: number) =>
      tx(async (c) => {
        await lock(c);
        const events = await c.query(
          "SELECT action, name FROM version_events WHERE kind = $1 AND action IN ('promote', 'rollback') ORDER BY seq",
          [kind],
        );
        const name = rollbackTarget(kind, events.rows as VersionEventRow[]);
        await require(c, kind, name);
        await setPromoted(c, kind, name, now);
        await event(c, kind, name, 'rollback', now);
        return require(c, kind, name);
      }),

    versionSeq: async () => Number((await query('SELECT COALESCE(MAX(seq), 0) AS seq FROM version_events')).rows[0].seq),
  };
}
