/**
 * The SQLite engine's synchronous operations (better-sqlite3). Runs only inside the store's worker
 * thread (sqlite-worker.ts), never on the thread that serves requests. The connection uses WAL with
 * synchronous=FULL: every commit is fsynced to the write-ahead log before it returns, so what a
 * commit acknowledged survives a killed process and a power cut; readers never block the writer.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { MiningParams } from './backend.ts';
import { MIGRATIONS_TABLE, pendingMigrations, SQLITE_MIGRATIONS } from './migrations.ts';
import { type FeedbackRow, fromRows, toRows } from './record-rows.ts';
import { SqliteVersions } from './sqlite-versions.ts';
import type { FeedbackResult, ServedRecord, StoredRecord } from './types.ts';

const bool = (b: boolean | null) => (b === null ? null : b ? 1 : 0);

export class SqliteDb {
  readonly versions: SqliteVersions;
  private readonly db: Database.Database;
  private readonly stmt;

  /** Opens (creating it and its folder when missing) the database file and applies pending migrations. */
  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    const mode = this.db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`store ${path}: could not switch to WAL (journal_mode is ${String(mode)})`);
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    const d = this.db;
    this.stmt = {
      insertRequest: d.prepare(`INSERT INTO requests (id, created_at_ms, prompt_text, prompt_tokens, policy, arm, model_version,
        selector_version, candidate_count, selected_index, voted_answer, answer_agreement, diversity, speedup, queue_ms, ttft_ms,
        total_ms, reference_answer, reference_match, metadata, response) VALUES (@id, @created_at_ms, @prompt_text, @prompt_tokens, @policy, @arm,
        @model_version, @selector_version, @candidate_count, @selected_index, @voted_answer, @answer_agreement, @diversity, @speedup,
        @queue_ms, @ttft_ms, @total_ms, @reference_answer, @reference_match, @metadata, @response) ON CONFLICT (id) DO NOTHING`),
      insertCandidate: d.prepare(`INSERT INTO candidates (request_id, idx, plan, text, answer, mean_logprob, finish_reason,
        completion_tokens) VALUES (@request_id, @idx, @plan, @text, @answer, @mean_logprob, @finish_reason, @completion_tokens)`),
      candidateCount: d.prepare('SELECT candidate_count FROM requests WHERE id = ?').pluck(),
      feedbackExists: d.prepare('SELECT 1 FROM feedback WHERE request_id = ? AND source = ?').pluck(),
      upsertFeedback: d.prepare(`INSERT INTO feedback (request_id, source, answer, labels, score, created_at_ms, updated_at_ms)
        VALUES (@request_id, @source, @answer, @labels, @score, @created_at_ms, @updated_at_ms)
        ON CONFLICT (request_id, source) DO UPDATE SET answer = excluded.answer, labels = excluded.labels,
        score = excluded.score, updated_at_ms = excluded.updated_at_ms`),
      request: d.prepare('SELECT * FROM requests WHERE id = ?'),
      candidates: d.prepare('SELECT * FROM candidates WHERE request_id = ? ORDER BY idx'),
      feedback: d.prepare('SELECT * FROM feedback WHERE request_id = ? ORDER BY source'),
      deleteOne: d.prepare('DELETE FROM requests WHERE id = ?'),
      deleteChunk: d.prepare('DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE created_at_ms < ? LIMIT ?)'),
      mineWrong: d.prepare(`SELECT r.id FROM requests r
        WHERE r.created_at_ms >= @since AND (@policy IS NULL OR r.policy = @policy)
          AND (r.reference_match = 0 OR EXISTS (SELECT 1 FROM feedback f WHERE f.request_id = r.id AND (
            (f.answer IS NOT NULL AND (r.voted_answer IS NULL OR f.answer <> r.voted_answer))
            OR (f.labels IS NOT NULL AND r.selected_index IS NOT NULL
                AND json_extract(f.labels, '$[' || r.selected_index || ']') = 0))))
        ORDER BY r.created_at_ms DESC, r.id LIMIT @limit`).pluck(),
      mineDisagreement: d.prepare(`SELECT id FROM requests
        WHERE candidate_count >= 2 AND created_at_ms >= @since AND (@policy IS NULL OR policy = @policy)
        ORDER BY answer_agreement ASC, created_at_ms DESC, id LIMIT @limit`).pluck(),
    };
    this.versions = new SqliteVersions(d);
  }

  /** Inserts a batch of records in one transaction; an id already stored is left as it is. */
  insertRecords(records: ServedRecord[]): void {
    this.db
      .transaction(() => {
        for (const r of records) {
          const { request, candidates } = toRows(r);
          if (this.stmt.insertRequest.run({ ...request, reference_match: bool(request.reference_match) }).changes === 0) continue;
          for (const c of candidates) this.stmt.insertCandidate.run(c);
        }
      })
      .immediate();
  }

  /** Upserts one feedback in its own committed (fsynced) transaction. */
  addFeedback(row: FeedbackRow, labelCount: number | null): FeedbackResult {
    return this.db
      .transaction((): FeedbackResult => {
        const count = this.stmt.candidateCount.get(row.request_id) as number | undefined;
        if (count === undefined) return { status: 'not_found' };
        if (labelCount !== null && labelCount !== count)
          return { status: 'invalid', field: 'labels', message: `labels has ${labelCount} entries; the completion has ${count} choices` };
        const replaced = this.stmt.feedbackExists.get(row.request_id, row.source) !== undefined;
        this.stmt.upsertFeedback.run(row);
        return { status: 'stored', replaced };
      })
      .immediate();
  }

  /** The records with these ids that exist, in order, each read in one consistent snapshot. */
  getRecords(ids: string[]): StoredRecord[] {
    return this.db.transaction(() => {
      const out: StoredRecord[] = [];
      for (const id of ids) {
        const req = this.stmt.request.get(id) as Record<string, unknown> | undefined;
        if (!req) continue;
        out.push(fromRows(req as never, this.stmt.candidates.all(id) as never, this.stmt.feedback.all(id) as never));
      }
      return out;
    })();
  }

  /** Deletes one record (candidates and feedback cascade); false when there was none. */
  deleteRecord(id: string): boolean {
    return this.stmt.deleteOne.run(id).changes > 0;
  }

  /** Deletes up to `chunk` records older than cutoff (candidates and feedback cascade); returns the count. */
  deleteChunk(cutoff: number, chunk: number): number {
    return this.stmt.deleteChunk.run(cutoff, chunk).changes;
  }

  mineIds(q: MiningParams): string[] {
    const stmt = q.kind === 'wrong' ? this.stmt.mineWrong : this.stmt.mineDisagreement;
    return stmt.all({ since: q.since, policy: q.policy, limit: q.limit }) as string[];
  }

  /** Runs `PRAGMA integrity_check` (tests and operators); returns 'ok' when sound. */
  integrityCheck(): string {
    return (this.db.pragma('integrity_check', { simple: true }) as string) ?? 'no answer';
  }

  close(): void {
    this.db.close();
  }

  private migrate(): void {
    this.db.exec(MIGRATIONS_TABLE);
    this.db
      .transaction(() => {
        const applied = this.db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[];
        const record = this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)');
        for (const m of pendingMigrations(SQLITE_MIGRATIONS, applied)) {
          this.db.exec(m.sql);
          record.run(m.version, m.name, Date.now());
        }
      })
      .immediate();
  }
}
