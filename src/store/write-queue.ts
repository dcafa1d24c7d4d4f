/**
 * The bounded queue between the request path and the store's writer. `push` is synchronous and
 * never waits: past `capacity` records (queued or being written) it drops and counts. A single
 * background drain writes what has accumulated, `batchSize` records per transaction, one batch at
 * a time, so batches grow by themselves under load.
 */
import type { StoreEvent, StoreStats } from './types.ts';

export interface WriteQueueOptions<T> {
  capacity: number;
  batchSize: number;
  /** Writes one batch in one transaction; a rejection counts the whole batch as failed. */
  write: (batch: T[]) => Promise<void>;
  /**
   * Whether a batch's failure came from what one of its items holds (not from the engine being
   * down): such a batch is written again one item at a time, so that item costs only itself.
   */
  itemError?: (error: unknown) => boolean;
  onEvent: (event: StoreEvent) => void;
}

export class WriteQueue<T extends { id: string }> {
  private queue: T[] = [];
  /** Ids queued or in the batch being written (a count, in case an id repeats). */
  private pendingIds = new Map<string, number>();
  private inFlight = 0;
  private draining = false;
  private closed = false;
  /** Items pushed / finished (written or failed) so far: flush() waits for finished to catch up. */
  private pushedSeq = 0;
  private doneSeq = 0;
  private waiters: { seq: number; resolve: () => void }[] = [];
  private counters = { queued: 0, written: 0, dropped: 0, failed: 0 };

  constructor(private readonly opts: WriteQueueOptions<T>) {
    if (!(opts.capacity >= 1) || !(opts.batchSize >= 1)) throw new RangeError('queue capacity and batch size must be >= 1');
  }

  /** Counts an item refused before it reached the queue (a malformed record). */
  refuse(message: string): void {
    this.counters.dropped++;
    this.opts.onEvent({ type: 'dropped', count: 1, reason: 'invalid', message });
  }

  /** Queues one item; returns false (and counts a drop) when full or closed. Never blocks. */
  push(item: T): boolean {
    if (this.closed || this.queue.length + this.inFlight >= this.opts.capacity) {
      this.counters.dropped++;
      this.opts.onEvent({ type: 'dropped', count: 1, reason: this.closed ? 'closed' : 'queue_full' });
      return false;
    }
    this.queue.push(item);
    this.pendingIds.set(item.id, (this.pendingIds.get(item.id) ?? 0) + 1);
    this.pushedSeq++;
    this.counters.queued++;
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => void this.drain());
    }
    return true;
  }

  /** Whether an item with this id is queued or being written now. */
  has(id: string): boolean {
    return this.pendingIds.has(id);
  }

  /** Resolves once every item pushed before the call has been written or has failed. */
  flush(): Promise<void> {
    const seq = this.pushedSeq;
    if (this.doneSeq >= seq) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ seq, resolve }));
  }

  /** Stops accepting items and waits (at most timeoutMs) for what is queued to be written. */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([this.flush(), timeout]);
    clearTimeout(timer);
  }

  stats(): StoreStats {
    return { ...this.counters, pending: this.queue.length + this.inFlight };
  }

  /** Writes one batch in one transaction and counts it; rejects with the engine's error, counted unless `retried`. */
  private async write(batch: T[], retried: (e: unknown) => boolean = () => false): Promise<void> {
    const t0 = performance.now();
    try {
      await this.opts.write(batch);
      this.counters.written += batch.length;
      this.opts.onEvent({ type: 'written', count: batch.length, seconds: (performance.now() - t0) / 1000 });
    } catch (e) {
      if (retried(e)) throw e;
      this.counters.failed += batch.length;
      this.opts.onEvent({ type: 'write_error', count: batch.length, error: e instanceof Error ? e : new Error(String(e)) });
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.opts.batchSize);
      this.inFlight = batch.length;
      // Writes skip ids already stored, so writing a batch's items again repeats nothing.
      const itemError = this.opts.itemError;
      const split = (e: unknown) => batch.length > 1 && itemError !== undefined && itemError(e);
      await this.write(batch, split).catch(async () => {
        for (const item of batch) await this.write([item]);
      });
      for (const item of batch) {
        const n = this.pendingIds.get(item.id) ?? 1;
        if (n <= 1) this.pendingIds.delete(item.id);
        else this.pendingIds.set(item.id, n - 1);
      }
      this.inFlight = 0;
      this.doneSeq += batch.length;
      this.waiters = this.waiters.filter((w) => (w.seq <= this.doneSeq ? (w.resolve(), false) : true));
    }
    this.draining = false;
  }
}
