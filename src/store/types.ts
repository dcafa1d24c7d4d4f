/**
 * Domain types of the request store: what a served request leaves behind, the feedback attached to
 * it, the model and selector versions, and the one interface every engine (SQLite, PostgreSQL, off)
 * implements. Plain camelCase objects: HTTP and gRPC wire names never reach this folder.
 */

/**
 * Any JSON-serialisable value (plans, reports): stored with JSON.stringify, read back parsed. Typed
 * loosely so callers can pass their own interfaces (a SkipPlan's wire form, a gate report).
 */
export type JsonValue = unknown;

/** One best-of-N candidate of a served request. */
export interface CandidateRecord {
  index: number;
  /** The candidate's skip plan, in whatever JSON form the caller chose (the wire form is easiest to read). */
  plan: JsonValue;
  text: string;
  /** Extracted, normalised answer; null when none was found. */
  answer: string | null;
  /** Mean token log-probability (the vote's tie-break score); null when not finite. */
  meanLogprob: number | null;
  finishReason: string;
  completionTokens: number;
}

/** Timings of one served request, in milliseconds. */
export interface RequestTimings {
  queueMs: number;
  /** Time to the first generated token; null when nothing was generated. */
  ttftMs: number | null;
  totalMs: number;
}

/** What the server answered for one completion, as recorded. */
export interface ServedRecord {
  /** The completion id (OpenAI `id`, the same in gRPC responses): unique, stable. */
  id: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  promptText: string;
  promptTokens: number;
  policy: string;
  arm?: string;
  modelVersion: string;
  selectorVersion?: string;
  candidates: CandidateRecord[];
  /** Index of the voted / selected candidate; absent when selection was off. */
  selectedIndex?: number;
  /** Diversity figures of the request (camelCase keys). */
  diversity?: { [key: string]: number };
  /** Measured end-to-end speedup; absent when not measured. */
  speedup?: number;
  timings: RequestTimings;
  /** The known answer attached by an offline run (evaluations, load tests). */
  referenceAnswer?: string;
  /** Whether the voted answer equals referenceAnswer (set by the caller, who owns answer normalisation). */
  referenceMatch?: boolean;
  /** The caller's tags (the OpenAI `metadata` field: at most 16 string pairs), e.g. an evaluation's tier. */
  metadata?: { [key: string]: string };
  /** A Responses API answer: what GET /v1/responses/{id} returns and previous_response_id continues. */
  response?: StoredResponse;
}

/** A Responses API answer as stored with its record (wire JSON, opaque to the store). */
export interface StoredResponse {
  /** The conversation's input items, each with its id (earlier responses' items first). */
  input: JsonValue[];
  /** The response object as it was answered. */
  object: JsonValue;
}

/** Feedback on one completion from one source: exactly one of answer, labels or score. */
export type FeedbackInput = { id: string; source: string } & (
  | { answer: string; labels?: never; score?: never }
  | { labels: boolean[]; answer?: never; score?: never }
  | { score: number; answer?: never; labels?: never }
);

/** Feedback as stored and returned with its record. */
export interface FeedbackRecord {
  source: string;
  /** The correct answer, as the caller normalised it. */
  answer?: string;
  /** One label per candidate, by index: true = good / correct. */
  labels?: boolean[];
  score?: number;
  createdAt: number;
  updatedAt: number;
}

/**
 * Outcome of addFeedback. `stored` is returned only after the row is committed durably; a repeat
 * for the same (id, source) replaces the earlier feedback (`replaced: true`).
 */
export type FeedbackResult =
  | { status: 'stored'; replaced: boolean }
  | { status: 'not_found' }
  | { status: 'invalid'; field: string; message: string };

/** A record read back, with every feedback on it (ordered by source). */
export interface StoredRecord extends ServedRecord {
  feedback: FeedbackRecord[];
}

/** Which records to mine for weakness cases (APT). */
export interface MiningQuery {
  /**
   * `wrong`: the voted answer differs from a feedback answer or the reference answer, or a feedback
   * labels the selected candidate bad. `disagreement`: records with at least two candidates, least
   * agreement first (share of candidates giving the most common answer).
   */
  kind: 'wrong' | 'disagreement';
  /** Only records created at or after this time (ms since epoch). */
  since?: number;
  policy?: string;
  /** At most this many records (default 100). */
  limit?: number;
}

export type VersionKind = 'model' | 'selector';
export type VersionStatus = 'candidate' | 'promoted' | 'refused' | 'retired';

/** A model or selector version known to the store. */
export interface VersionRecord {
  kind: VersionKind;
  name: string;
  /** Content hash (`sha256:<hex>`, see model-hash.ts). */
  hash: string;
  /** Where its files are (directory, file or URI). */
  uri: string;
  createdAt: number;
  status: VersionStatus;
  /** When it was last promoted; absent if never. */
  promotedAt?: number;
  /** The gate's report or any other JSON the caller attaches. */
  report?: JsonValue;
}

/** One artifact file of a version, stored in the store so every replica can load it. */
export interface VersionFile {
  /** Relative path inside the version's directory (`model.safetensors`, `router/catalog.json`). */
  path: string;
  bytes: Uint8Array;
}

export interface NewVersion {
  kind: VersionKind;
  name: string;
  hash: string;
  uri: string;
  report?: JsonValue;
  /** The version's files, stored with it (omit to register a directory every replica can read at `uri`). */
  files?: VersionFile[];
}

/** The versions serving now; `seq` grows with every change of the versions table. */
export interface PromotedVersions {
  model: VersionRecord | null;
  selector: VersionRecord | null;
  seq: number;
}

/** Model and selector versions, with promotion, rollback and change notification. */
export interface VersionStore {
  /** Registers a candidate; re-adding the same kind, name and hash returns the existing row. */
  add(version: NewVersion): Promise<VersionRecord>;
  /** Every version (of one kind when given), newest first. */
  list(kind?: VersionKind): Promise<VersionRecord[]>;
  /** The files stored with a version, by path; empty when it was registered by `uri` only. */
  files(kind: VersionKind, name: string): Promise<VersionFile[]>;
  promoted(): Promise<PromotedVersions>;
  /** Makes `name` the one promoted version of its kind; the previous one becomes `retired`. */
  promote(kind: VersionKind, name: string): Promise<VersionRecord>;
  /** Marks a candidate refused by the gate (with its report). */
  refuse(kind: VersionKind, name: string, report?: JsonValue): Promise<VersionRecord>;
  /** Undoes the latest promotion of `kind`: re-promotes the version it replaced and returns it. */
  rollback(kind: VersionKind): Promise<VersionRecord>;
  /**
   * Calls `listener` whenever the promoted versions change, from this store or another replica
   * (PostgreSQL LISTEN/NOTIFY plus polling; SQLite polling). Returns the unsubscribe function.
   */
  watch(listener: (promoted: PromotedVersions) => void): () => void;
}

/** What happens inside the store, for metrics and logs (the store declares no metrics itself). */
export type StoreEvent =
  | { type: 'written'; count: number; seconds: number }
  | { type: 'dropped'; count: number; reason: 'queue_full' | 'closed' | 'invalid'; message?: string }
  | { type: 'write_error'; count: number; error: Error }
  | { type: 'feedback'; outcome: FeedbackResult['status'] | 'error'; seconds: number }
  | { type: 'retention'; deleted: number; seconds: number }
  | { type: 'retention_error'; error: Error }
  | { type: 'watch_error'; error: Error }
  | { type: 'engine_error'; error: Error };

/** Counters since the store was opened. */
export interface StoreStats {
  /** Records accepted into the queue. */
  queued: number;
  written: number;
  dropped: number;
  /** Records lost to write errors. */
  failed: number;
  /** Records queued or being written now. */
  pending: number;
}

/** The durable store of served requests and feedback, whatever the engine. */
export interface RequestStore {
  readonly engine: 'sqlite' | 'postgres' | 'off';
  /**
   * Queues a record for writing and returns at once (never blocks, never throws). False when the
   * record was dropped: the queue is full, the store is closing, or the record is malformed.
   */
  record(record: ServedRecord): boolean;
  /** Stores feedback; resolves once it is durable. A record still queued is written first. */
  addFeedback(feedback: FeedbackInput): Promise<FeedbackResult>;
  /** The record with its feedback, or null for an unknown id. A record still queued is written first. */
  getRecord(id: string): Promise<StoredRecord | null>;
  /** Deletes one record with its candidates and feedback; false when there was none. A record still queued is written first. */
  deleteRecord(id: string): Promise<boolean>;
  /** Resolves once every record queued before the call is written (or failed). */
  flush(): Promise<void>;
  /** Deletes records (with their candidates and feedback) created before `cutoff` ms; returns how many. */
  deleteOlderThan(cutoff: number): Promise<number>;
  /** Weakness cases for the APT rounds. */
  mine(query: MiningQuery): Promise<StoredRecord[]>;
  readonly versions: VersionStore;
  stats(): StoreStats;
  /** Writes what is queued (bounded by a timeout), then closes the engine. */
  close(): Promise<void>;
}

/** Options common to every engine. */
export interface StoreOptions {
  /** Records that may wait for the writer; past it record() drops (default 10,000). */
  queueSize?: number;
  /** Records per write transaction at most (default 500). */
  batchSize?: number;
  /** How often to poll for version changes, ms (default 2,000; PostgreSQL also listens). */
  versionPollMs?: number;
  /** How long close() waits for queued records, ms (default 5,000). */
  closeTimeoutMs?: number;
  onEvent?: (event: StoreEvent) => void;
}
