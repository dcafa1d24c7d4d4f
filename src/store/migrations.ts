/**
 * The store's schema, as numbered migrations per engine. Each engine applies, at open and in one
 * transaction, the migrations its `schema_migrations` table does not list yet; a database whose
 * schema is newer than this code refuses to open. Append new migrations, never edit applied ones.
 * Times are integer milliseconds since the epoch in both engines, so rows map the same way.
 */

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const SQLITE_1 = `
CREATE TABLE requests (
  id TEXT PRIMARY KEY,
  created_at_ms INTEGER NOT NULL,
  prompt_text TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  policy TEXT NOT NULL,
  arm TEXT,
  model_version TEXT NOT NULL,
  selector_version TEXT,
  candidate_count INTEGER NOT NULL,
  selected_index INTEGER,
  voted_answer TEXT,
  answer_agreement REAL NOT NULL,
  diversity TEXT,
  speedup REAL,
  queue_ms REAL NOT NULL,
  ttft_ms REAL,
  total_ms REAL NOT NULL,
  reference_answer TEXT,
  reference_match INTEGER
);
CREATE INDEX requests_created ON requests (created_at_ms);
CREATE INDEX requests_policy_created ON requests (policy, created_at_ms);
CREATE TABLE candidates (
  request_id TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  plan TEXT NOT NULL,
  text TEXT NOT NULL,
  answer TEXT,
  mean_logprob REAL,
  finish_reason TEXT NOT NULL,
  completion_tokens INTEGER NOT NULL,
  PRIMARY KEY (request_id, idx)
) WITHOUT ROWID;
CREATE TABLE feedback (
  request_id TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
  source TEXT NOT NULL,
  answer TEXT,
  labels TEXT,
  score REAL,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (request_id, source)
) WITHOUT ROWID;
CREATE TABLE versions (
  kind TEXT NOT NULL CHECK (kind IN ('model', 'selector')),
  name TEXT NOT NULL,
  hash TEXT NOT NULL,
  uri TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('candidate', 'promoted', 'refused', 'retired')),
  promoted_at_ms INTEGER,
  report TEXT,
  PRIMARY KEY (kind, name)
);
CREATE UNIQUE INDEX versions_one_promoted ON versions (kind) WHERE status = 'promoted';
CREATE TABLE version_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('add', 'promote', 'refuse', 'rollback')),
  at_ms INTEGER NOT NULL
);
`;

const POSTGRES_1 = `
CREATE TABLE requests (
  id TEXT PRIMARY KEY,
  created_at_ms BIGINT NOT NULL,
  prompt_text TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  policy TEXT NOT NULL,
  arm TEXT,
  model_version TEXT NOT NULL,
  selector_version TEXT,
  candidate_count INTEGER NOT NULL,
  selected_index INTEGER,
  voted_answer TEXT,
  answer_agreement DOUBLE PRECISION NOT NULL,
  diversity JSONB,
  speedup DOUBLE PRECISION,
  queue_ms DOUBLE PRECISION NOT NULL,
  ttft_ms DOUBLE PRECISION,
  total_ms DOUBLE PRECISION NOT NULL,
  reference_answer TEXT,
  reference_match BOOLEAN
);
CREATE INDEX requests_created ON requests (created_at_ms);
CREATE INDEX requests_policy_created ON requests (policy, created_at_ms);
CREATE TABLE candidates (
  request_id TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  plan JSONB NOT NULL,
  text TEXT NOT NULL,
  answer TEXT,
  mean_logprob DOUBLE PRECISION,
  finish_reason TEXT NOT NULL,
  completion_tokens INTEGER NOT NULL,
  PRIMARY KEY (request_id, idx)
);
CREATE TABLE feedback (
  request_id TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
  source TEXT NOT NULL,
  answer TEXT,
  labels JSONB,
  score DOUBLE PRECISION,
  created_at_ms BIGINT NOT NULL,
  updated_at_ms BIGINT NOT NULL,
  PRIMARY KEY (request_id, source)
);
CREATE TABLE versions (
  kind TEXT NOT NULL CHECK (kind IN ('model', 'selector')),
  name TEXT NOT NULL,
  hash TEXT NOT NULL,
  uri TEXT NOT NULL,
  created_at_ms BIGINT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('candidate', 'promoted', 'refused', 'retired')),
  promoted_at_ms BIGINT,
  report JSONB,
  PRIMARY KEY (kind, name)
);
CREATE UNIQUE INDEX versions_one_promoted ON versions (kind) WHERE status = 'promoted';
CREATE TABLE version_events (
  seq BIGSERIAL PRIMARY KEY,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('add', 'promote', 'refuse', 'rollback')),
  at_ms BIGINT NOT NULL
);
`;

/** Request metadata (the OpenAI `metadata` field) and the artifact files of each version. */
const SQLITE_2 = `
ALTER TABLE requests ADD COLUMN metadata TEXT;
CREATE TABLE version_files (
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  bytes BLOB NOT NULL,
  PRIMARY KEY (kind, name, path),
  FOREIGN KEY (kind, name) REFERENCES versions (kind, name) ON DELETE CASCADE
) WITHOUT ROWID;
`;

const POSTGRES_2 = `
ALTER TABLE requests ADD COLUMN metadata JSONB;
CREATE TABLE version_files (
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  path TEXT NOT NULL,
  size BIGINT NOT NULL,
  bytes BYTEA NOT NULL,
  PRIMARY KEY (kind, name, path),
  FOREIGN KEY (kind, name) REFERENCES versions (kind, name) ON DELETE CASCADE
);
`;

/** A Responses API answer's state (its input items and the response object), for retrieval and previous_response_id. */
const SQLITE_3 = `ALTER TABLE requests ADD COLUMN response TEXT;`;
const POSTGRES_3 = `ALTER TABLE requests ADD COLUMN response JSONB;`;

/** SQLite migrations, in order. */
export const SQLITE_MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'records, feedback, versions', sql: SQLITE_1 },
  { version: 2, name: 'request metadata, version files', sql: SQLITE_2 },
  { version: 3, name: 'stored responses', sql: SQLITE_3 },
];

/** PostgreSQL migrations, in order (same versions and meaning as SQLite's). */
export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'records, feedback, versions', sql: POSTGRES_1 },
  { version: 2, name: 'request metadata, version files', sql: POSTGRES_2 },
  { version: 3, name: 'stored responses', sql: POSTGRES_3 },
];

/** The table that lists applied migrations (same DDL in both engines). */
export const MIGRATIONS_TABLE =
  'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)';

/** The migrations still to apply, or an error when the database is newer than this code. */
export function pendingMigrations(all: readonly Migration[], applied: readonly number[]): Migration[] {
  const latest = all[all.length - 1]?.version ?? 0;
  const newest = Math.max(0, ...applied);
  if (newest > latest)
    throw new Error(`store schema version ${newest} is newer than this skipserve (knows up to ${latest}): upgrade skipserve`);
  const done = new Set(applied);
  return all.filter((m) => !done.has(m.version));
}
