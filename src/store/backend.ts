/**
 * What an engine (SQLite in its worker, PostgreSQL through a pool) provides to the shared store
 * logic in queued-store.ts: plain asynchronous operations, each its own transaction.
 */
import type { FeedbackRow } from './record-rows.ts';
import type {
  FeedbackResult,
  JsonValue,
  MiningQuery,
  NewVersion,
  PromotedVersions,
  ServedRecord,
  StoredRecord,
  VersionFile,
  VersionKind,
  VersionRecord,
} from './types.ts';

/** A mining query with its defaults filled in. */
export type MiningParams = Required<Omit<MiningQuery, 'policy'>> & { policy: string | null };

export interface StoreBackend {
  readonly engine: 'sqlite' | 'postgres';
  /** Inserts a batch in one transaction; records whose id exists already are skipped. */
  insertRecords(records: ServedRecord[]): Promise<void>;
  /** Whether insertRecords failed on what a record holds (a batch is then retried record by record). */
  itemError?(error: unknown): boolean;
  /** Upserts one feedback per (request, source) and commits durably; checks labels against the candidate count. */
  addFeedback(row: FeedbackRow, labelCount: number | null): Promise<FeedbackResult>;
  /** The records with these ids that exist, in the order given. */
  getRecords(ids: string[]): Promise<StoredRecord[]>;
  /** Deletes one record (candidates and feedback cascade); false when there was none. */
  deleteRecord(id: string): Promise<boolean>;
  deleteOlderThan(cutoff: number, chunk: number): Promise<number>;
  mineIds(q: MiningParams): Promise<string[]>;
  addVersion(v: NewVersion, now: number): Promise<VersionRecord>;
  listVersions(kind: VersionKind | null): Promise<VersionRecord[]>;
  versionFiles(kind: VersionKind, name: string): Promise<VersionFile[]>;
  promoted(): Promise<PromotedVersions>;
  promote(kind: VersionKind, name: string, now: number): Promise<VersionRecord>;
  refuse(kind: VersionKind, name: string, report: JsonValue | null, now: number): Promise<VersionRecord>;
  rollback(kind: VersionKind, now: number): Promise<VersionRecord>;
  /** The versions change counter (grows with every version event). */
  versionSeq(): Promise<number>;
  /** Push notification of version changes from other processes, where the engine has it. */
  subscribe?(onChange: () => void, onError: (e: Error) => void): () => void;
  close(): Promise<void>;
}
