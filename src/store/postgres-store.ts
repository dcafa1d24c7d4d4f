/**
 * The PostgreSQL engine: a pg pool (asynchronous socket I/O, so nothing blocks the event loop),
 * migrations under an advisory lock so replicas starting together apply them once, batched inserts
 * through unnest, feedback committed with synchronous_commit on, and LISTEN/NOTIFY for versions.
 */
import pg from 'pg';
import type { MiningParams, StoreBackend } from './backend.ts';
import { MIGRATIONS_TABLE, pendingMigrations, POSTGRES_MIGRATIONS } from './migrations.ts';
import { listenVersions } from './postgres-listen.ts';
import { postgresVersions } from './postgres-versions.ts';
import { type FeedbackRow, fromRows, toRows } from './record-rows.ts';
import { withoutNul } from './postgres-text.ts';
import { QueuedStore } from './queued-store.ts';
import type { FeedbackResult, ServedRecord, StoredRecord, StoreOptions } from './types.ts';

/** Any number that identifies skipserve's migration lock among the database's advisory locks. */
const MIGRATION_LOCK = 7_235_160_423;

const REQUEST_COLUMNS: [string, string][] = [
  ['id', 'text'], ['created_at_ms', 'bigint'], ['prompt_text', 'text'], ['prompt_tokens', 'int'], ['policy', 'text'],
  ['arm', 'text'], ['model_version', 'text'], ['selector_version', 'text'], ['candidate_count', 'int'],
  ['selected_index', 'int'], ['voted_answer', 'text'], ['answer_agreement', 'float8'], ['diversity', 'jsonb'],
  ['speedup', 'float8'], ['queue_ms', 'float8'], ['ttft_ms', 'float8'], ['total_ms', 'float8'],
  ['reference_answer', 'text'], ['reference_match', 'bool'], ['metadata', 'jsonb'], ['response', 'jsonb'],
];
const CANDIDATE_COLUMNS: [string, string][] = [
  ['request_id', 'text'], ['idx', 'int'], ['plan', 'jsonb'], ['text', 'text'], ['answer', 'text'],
  ['mean_logprob', 'float8'], ['finish_reason', 'text'], ['completion_tokens', 'int'],
];

/** `INSERT ... SELECT * FROM unnest($1::t[], ...)`: one statement per table for a whole batch. */
const unnestInsert = (table: string, cols: [string, string][], conflict: string) =>
  `INSERT INTO ${table} (${cols.map((c) => c[0]).join(', ')}) SELECT * FROM unnest(${cols
    .map((c, i) => `$${i + 1}::${c[1]}[]`)
    .join(', ')}) ON CONFLICT ${conflict} DO NOTHING`;
const INSERT_REQUESTS = unnestInsert('requests', REQUEST_COLUMNS, '(id)') + ' RETURNING id';
const INSERT_CANDIDATES = unnestInsert('candidates', CANDIDATE_COLUMNS, '(request_id, idx)');
const columnArrays = <R>(rows: R[], cols: [string, string][]) => cols.map(([name]) => rows.map((r) => (r as Record<string, unknown>)[name]));

const MINE_WRONG = `SELECT r.id FROM requests r
  WHERE r.created_at_ms >= $1 AND ($2::text IS NULL OR r.policy = $2)
    AND (r.reference_match = false OR EXISTS (SELECT 1 FROM feedback f WHERE f.request_id = r.id AND (
      (f.answer IS NOT NULL AND f.answer IS DISTINCT FROM r.voted_answer)
      OR (f.labels IS NOT NULL AND r.selected_index IS NOT NULL AND f.labels -> r.selected_index = 'false'::jsonb))))
  ORDER BY r.created_at_ms DESC, r.id LIMIT $3`;
const MINE_DISAGREEMENT = `SELECT id FROM requests
  WHERE candidate_count >= 2 AND created_at_ms >= $1 AND ($2::text IS NULL OR policy = $2)
  ORDER BY answer_agreement ASC, created_at_ms DESC, id LIMIT $3`;

class PostgresBackend implements StoreBackend {
  readonly engine = 'postgres' as const;
  private readonly versions;

  constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
  ) {
    this.versions = postgresVersions(this.tx, (sql, params) => this.pool.query(sql, params));
  }

  /** Runs fn in a transaction on one pooled connection; a connection that failed to roll back is discarded. */
  tx = async <T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    const c = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch((err: Error) => (broken = err));
      throw e;
    } finally {
      c.release(broken);
    }
  };

  async migrate(): Promise<void> {
    await this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await c.query(MIGRATIONS_TABLE);
      const applied = (await c.query('SELECT version FROM schema_migrations')).rows.map((r) => Number(r.version));
      for (const m of pendingMigrations(POSTGRES_MIGRATIONS, applied)) {
        await c.query(m.sql);
        await c.query('INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
      }
    });
  }

  insertRecords = (records: ServedRecord[]) =>
    this.tx(async (c) => {
      const rows = records.map((r) => toRows(withoutNul(r)));
      const inserted = await c.query(INSERT_REQUESTS, columnArrays(rows.map((r) => r.request), REQUEST_COLUMNS));
      const fresh = new Set(inserted.rows.map((r) => r.id as string));
      const candidates = rows.filter((r) => fresh.has(r.request.id)).flatMap((r) => r.candidates);
      if (candidates.length > 0) await c.query(INSERT_CANDIDATES, columnArrays(candidates, CANDIDATE_COLUMNS));
    });

  /** SQLSTATE classes 22 (data exception: a bad encoding, a value out of range) and 23 (a constraint). */
  itemError = (e: unknown) => /^2[23]/.test(String((e as { code?: unknown } | null)?.code ?? ''));

  addFeedback = (given: FeedbackRow, labelCount: number | null) =>
    this.tx(async (c): Promise<FeedbackResult> => {
      const row = withoutNul(given);
      // Acknowledged means flushed to the WAL, whatever the server's default.
      await c.query('SET LOCAL synchronous_commit = on');
      const req = await c.query('SELECT candidate_count FROM requests WHERE id = $1 FOR SHARE', [row.request_id]);
      if (req.rows.length === 0) return { status: 'not_found' };
      const count = Number(req.rows[0].candidate_count);
      if (labelCount !== null && labelCount !== count)
        return { status: 'invalid', field: 'labels', message: `labels has ${labelCount} entries; the completion has ${count} choices` };
      const values = [row.request_id, row.source, row.answer, row.labels, row.score, row.created_at_ms, row.updated_at_ms];
      const ins = await c.query(
        `INSERT INTO feedback (request_id, source, answer, labels, score, created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7) ON CONFLICT (request_id, source) DO NOTHING`,
        values,
      );
      if (ins.rowCount === 1) return { status: 'stored', replaced: false };
      await c.query('UPDATE feedback SET answer = $3, labels = $4::jsonb, score = $5, updated_at_ms = $6 WHERE request_id = $1 AND source = $2', [
        row.request_id,
        row.source,
        row.answer,
        row.labels,
        row.score,
        row.updated_at_ms,
      ]);
      return { status: 'stored', replaced: true };
    });

  getRecords = async (given: string[]): Promise<StoredRecord[]> => {
    if (given.length === 0) return [];
    const ids = withoutNul(given);
    // One snapshot for the three reads, so a record never comes back half-deleted.
    return this.tx(async (c) => {
      await c.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // `*, x::text AS x`: pg keeps the last column of a name, so JSON columns come back as text.
      const reqs = await c.query('SELECT *, diversity::text AS diversity, metadata::text AS metadata, response::text AS response FROM requests WHERE id = ANY($1::text[])', [ids]);
      const cands = await c.query('SELECT *, plan::text AS plan FROM candidates WHERE request_id = ANY($1::text[])', [ids]);
      const fb = await c.query('SELECT *, labels::text AS labels FROM feedback WHERE request_id = ANY($1::text[])', [ids]);
      const byId = new Map(reqs.rows.map((r) => [r.id as string, r]));
      return ids.flatMap((id) => {
        const r = byId.get(id);
        if (!r) return [];
        return [fromRows(r, cands.rows.filter((x) => x.request_id === id), fb.rows.filter((x) => x.request_id === id))];
      });
    });
  };

  deleteRecord = async (id: string): Promise<boolean> => ((await this.pool.query('DELETE FROM requests WHERE id = $1', [withoutNul(id)])).rowCount ?? 0) > 0;

  async deleteOlderThan(cutoff: number, chunk: number): Promise<number> {
    let total = 0;
    for (;;) {
      const r = await this.pool.query('DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE created_at_ms < $1 LIMIT $2)', [
        cutoff,
        chunk,
      ]);
      total += r.rowCount ?? 0;
      if ((r.rowCount ?? 0) < chunk) return total;
    }
  }

  mineIds = async (q: MiningParams) =>
    (await this.pool.query(q.kind === 'wrong' ? MINE_WRONG : MINE_DISAGREEMENT, [q.since, withoutNul(q.policy), q.limit])).rows.map((r) => r.id as string);

  addVersion: StoreBackend['addVersion'] = (...a) => this.versions.addVersion(...a);
  listVersions: StoreBackend['listVersions'] = (...a) => this.versions.listVersions(...a);
  versionFiles: StoreBackend['versionFiles'] = (...a) => this.versions.versionFiles(...a);
  promoted: StoreBackend['promoted'] = () => this.versions.promoted();
  promote: StoreBackend['promote'] = (...a) => this.versions.promote(...a);
  refuse: StoreBackend['refuse'] = (...a) => this.versions.refuse(...a);
  rollback: StoreBackend['rollback'] = (...a) => this.versions.rollback(...a);
  versionSeq: StoreBackend['versionSeq'] = () => this.versions.versionSeq();

  subscribe(onChange: () => void, onError: (e: Error) => void): () => void {
    return listenVersions(this.url, onChange, onError);
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

export interface PostgresStoreOptions extends StoreOptions {
  /** Connections in the pool (default 4). */
  poolSize?: number;
}

/**
 * Connects to the PostgreSQL store at `url` (postgres://...) and applies pending migrations;
 * rejects with the connection or migration error. Replicas pointing at one database share it.
 */
export async function openPostgresStore(url: string, opts: PostgresStoreOptions = {}): Promise<QueuedStore> {
  // A connection that cannot be had in 10 s fails the call instead of leaving it waiting; TCP
  // keepalive (first probe after 10 s idle, not the kernel's 2 hours) lets a connection whose peer
  // vanished (a partition, a failed-over host) fail within minutes too.
  const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 4, connectionTimeoutMillis: 10_000, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
  pool.on('error', (error) => opts.onEvent?.({ type: 'engine_error', error }));
  const backend = new PostgresBackend(pool, url);
  try {
    await backend.migrate();
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw new Error(`cannot open store ${redactUrl(url)}: ${(e as Error).message}`);
  }
  return new QueuedStore(backend, opts);
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable url)';
  }
}
