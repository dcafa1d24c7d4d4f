/**
 * The RequestStore both engines share: a bounded write queue in front of the engine's batch insert,
 * read-your-writes for feedback and lookups of records still queued, version operations with
 * change notification, and events for metrics. Engine specifics live behind StoreBackend.
 */
import type { StoreBackend } from './backend.ts';
import { feedbackRow, recordProblem, validateFeedback } from './record-rows.ts';
import type {
  FeedbackInput,
  FeedbackResult,
  JsonValue,
  MiningQuery,
  NewVersion,
  RequestStore,
  ServedRecord,
  StoreEvent,
  StoreOptions,
  StoredRecord,
  StoreStats,
  VersionKind,
  VersionStore,
} from './types.ts';
import { VersionWatch } from './version-watch.ts';
import { checkKind, checkNamed, validateNewVersion } from './versions.ts';
import { WriteQueue } from './write-queue.ts';

export const STORE_DEFAULTS = { queueSize: 10_000, batchSize: 500, versionPollMs: 2_000, closeTimeoutMs: 5_000 };

/** Wraps an engine backend into the full RequestStore. */
export class QueuedStore implements RequestStore {
  readonly engine: 'sqlite' | 'postgres';
  readonly versions: VersionStore;
  private readonly queue: WriteQueue<ServedRecord>;
  private readonly watch: VersionWatch;
  private readonly emit: (event: StoreEvent) => void;
  private readonly closeTimeoutMs: number;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly backend: StoreBackend,
    opts: StoreOptions = {},
  ) {
    this.engine = backend.engine;
    const onEvent = opts.onEvent;
    this.emit = (event) => {
      try {
        onEvent?.(event);
      } catch {
        // A failing metrics hook must not break the store.
      }
    };
    this.queue = new WriteQueue<ServedRecord>({
      capacity: opts.queueSize ?? STORE_DEFAULTS.queueSize,
      batchSize: opts.batchSize ?? STORE_DEFAULTS.batchSize,
      write: (batch) => backend.insertRecords(batch),
      ...(backend.itemError ? { itemError: (e: unknown) => backend.itemError!(e) } : {}),
      onEvent: this.emit,
    });
    this.watch = new VersionWatch(backend, opts.versionPollMs ?? STORE_DEFAULTS.versionPollMs, (error) =>
      this.emit({ type: 'watch_error', error }),
    );
    this.closeTimeoutMs = opts.closeTimeoutMs ?? STORE_DEFAULTS.closeTimeoutMs;
    this.versions = this.versionStore();
  }

  record(record: ServedRecord): boolean {
    let problem: string | null;
    try {
      problem = recordProblem(record);
    } catch (e) {
      problem = `unreadable record: ${(e as Error).message}`;
    }
    if (problem === null) return this.queue.push(record);
    this.queue.refuse(problem);
    return false;
  }

  async addFeedback(feedback: FeedbackInput): Promise<FeedbackResult> {
    const t0 = performance.now();
    const done = (r: FeedbackResult) => (this.emit({ type: 'feedback', outcome: r.status, seconds: (performance.now() - t0) / 1000 }), r);
    const invalid = validateFeedback(feedback);
    if (invalid) return done(invalid);
    if (this.queue.has(feedback.id)) await this.queue.flush();
    try {
      return done(await this.backend.addFeedback(feedbackRow(feedback, Date.now()), feedback.labels?.length ?? null));
    } catch (e) {
      this.emit({ type: 'feedback', outcome: 'error', seconds: (performance.now() - t0) / 1000 });
      throw e;
    }
  }

  async getRecord(id: string): Promise<StoredRecord | null> {
    if (this.queue.has(id)) await this.queue.flush();
    return (await this.backend.getRecords([id]))[0] ?? null;
  }

  async deleteRecord(id: string): Promise<boolean> {
    if (this.queue.has(id)) await this.queue.flush();
    return this.backend.deleteRecord(id);
  }

  flush(): Promise<void> {
    return this.queue.flush();
  }

  deleteOlderThan(cutoff: number): Promise<number> {
    return this.backend.deleteOlderThan(cutoff, 1000);
  }

  async mine(query: MiningQuery): Promise<StoredRecord[]> {
    if (query.kind !== 'wrong' && query.kind !== 'disagreement') throw new RangeError(`mining kind must be wrong or disagreement`);
    const limit = Math.max(1, Math.min(10_000, Math.floor(query.limit ?? 100)));
    const ids = await this.backend.mineIds({ kind: query.kind, since: query.since ?? 0, policy: query.policy ?? null, limit });
    return this.backend.getRecords(ids);
  }

  stats(): StoreStats {
    return this.queue.stats();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.queue.close(this.closeTimeoutMs);
      await this.watch.close();
      await this.backend.close();
    })();
    return this.closing;
  }

  private versionStore(): VersionStore {
    const b = this.backend;
    const changed = <T>(p: Promise<T>) => p.then((v) => (this.watch.changed(), v));
    return {
      add: async (v: NewVersion) => {
        validateNewVersion(v);
        return b.addVersion(v, Date.now());
      },
      list: async (kind?: VersionKind) => {
        if (kind !== undefined) checkKind(kind);
        return b.listVersions(kind ?? null);
      },
      files: async (kind: VersionKind, name: string) => {
        checkNamed(kind, name);
        return b.versionFiles(kind, name);
      },
      promoted: () => b.promoted(),
      promote: async (kind: VersionKind, name: string) => {
        checkNamed(kind, name);
        return changed(b.promote(kind, name, Date.now()));
      },
      refuse: async (kind: VersionKind, name: string, report?: JsonValue) => {
        checkNamed(kind, name);
        return b.refuse(kind, name, report ?? null, Date.now());
      },
      rollback: async (kind: VersionKind) => {
        checkKind(kind);
        return changed(b.rollback(kind, Date.now()));
      },
      watch: (listener) => this.watch.watch(listener),
    };
  }
}
