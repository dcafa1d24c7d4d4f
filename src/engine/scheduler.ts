/**
 * The scheduler: which requests are admitted and which rows run together. It does no I/O and owns
 * no tensors; the engine asks it between steps. Admission is by priority (lower first, as vLLM's
 * priority scheduling), then FIFO (no overtaking, so no starvation among equals; a request that
 * asks a lower priority waits while higher ones keep coming; running rows are never preempted)
 * and bounded by `maxBatch` rows; the waiting queue is bounded by `maxQueue` requests. Running rows
 * are grouped by their request's skip core, so what a whole group skips is really skipped in its
 * step, while rows with different plans inside a group share the step through per-row masks.
 * Groups take turns by fair share per skip core: each group's virtual time grows by its step time,
 * and the group with the least virtual time steps next. So every core in flight gets the same share
 * of the machine, and a core whose steps are cheaper gets proportionally more of them: a skip core's
 * saving shows in its requests' latency even when other cores run beside it. (Sharing per row
 * instead charged each step's fixed cost to the rows of that step: a core with fewer rows in flight
 * than the full model's group paid more per row than it saved, and under mixed load its requests
 * ran slower than the full model's.)
 */

/** What the scheduler needs to know about a request. */
export interface SchedRequest<R extends SchedRow = SchedRow> {
  /** Rows it needs (its n). */
  readonly n: number;
  /** Key of its skip core; requests with the same key batch together. */
  readonly coreKey: string;
  /** Where its rows step, when not with its core's (speculative decoding runs its own cycles); absent: coreKey. */
  readonly groupKey?: string;
  /** Admission priority: lower first (absent: 0). */
  readonly priority?: number;
  /**
   * True while it holds all n rows whatever its rows are now (a beam search: its live beams come and
   * go as beams end, and the next step can bring them back to n).
   */
  readonly holdsAllRows?: boolean;
  /** Its rows once admitted. */
  rows: R[];
}

export interface SchedRow {
  finished: boolean;
}

export class Scheduler<P extends SchedRequest<R>, R extends SchedRow = P['rows'][number]> {
  private readonly waiting: P[] = [];
  private readonly running = new Set<P>();
  /** Requests accepted but not yet queued (their policy is still choosing plans). */
  private reserved = 0;
  /** Fair-share virtual time (ms of steps) of each running skip core. */
  private readonly vtime = new Map<string, number>();

  constructor(
    readonly maxBatch: number,
    readonly maxQueue: number,
  ) {}

  /** True when one more request may wait; callers reserve a slot before any async work. */
  tryReserve(): boolean {
    if (this.waiting.length + this.reserved >= this.maxQueue && !this.canAdmitNow()) return false;
    this.reserved++;
    return true;
  }

  /** Gives back a slot reserved by tryReserve (the request failed before queueing). */
  release(): void {
    this.reserved = Math.max(0, this.reserved - 1);
  }

  /** Queues a request whose slot was reserved: behind every waiting request of its priority or a lower (more urgent) one. */
  enqueue(p: P): void {
    this.release();
    const priority = p.priority ?? 0;
    let at = this.waiting.length;
    while (at > 0 && (this.waiting[at - 1]!.priority ?? 0) > priority) at--;
    this.waiting.splice(at, 0, p);
  }

  /** Rows held by running requests (finished rows free their slot at once, except in a request that holds all its rows). */
  rowsInUse(): number {
    let rows = 0;
    for (const p of this.running) rows += p.rows.length && !p.holdsAllRows ? p.rows.filter((r) => !r.finished).length : p.n;
    return rows;
  }

  /** Pops, in queue order (priority, then arrival), the waiting requests whose rows fit next to the running ones. */
  admit(): P[] {
    const out: P[] = [];
    let free = this.maxBatch - this.rowsInUse();
    while (this.waiting.length && this.waiting[0]!.n <= free) {
      const p = this.waiting.shift()!;
      free -= p.n;
      this.running.add(p);
      out.push(p);
    }
    return out;
  }

  /** Unfinished rows of running requests, one group per skip core (and speculative group; largest group first). */
  decodeGroups(): R[][] {
    return [...this.groups().values()].sort((a, b) => b.length - a.length);
  }

  /** True when a skip core has work: unfinished rows of running requests, or requests waiting. */
  hasWork(key: string): boolean {
    return this.rowsOf(key) > 0 || this.waiting.some((p) => p.coreKey === key);
  }

  /** Unfinished rows of the running requests of one skip core. */
  rowsOf(key: string): number {
    let rows = 0;
    for (const p of this.running) if (p.coreKey === key) for (const r of p.rows) if (!r.finished) rows++;
    return rows;
  }

  private groups(): Map<string, R[]> {
    const groups = new Map<string, R[]>();
    for (const p of this.running) {
      const key = p.groupKey ?? p.coreKey;
      for (const r of p.rows) {
        if (r.finished) continue;
        const g = groups.get(key);
        if (g) g.push(r);
        else groups.set(key, [r]);
      }
    }
    return groups;
  }

  /** The group whose turn it is (least virtual time; ties: the larger group), or null when no row runs. */
  nextGroup(): { key: string; rows: R[] } | null {
    const groups = this.groups();
    for (const key of [...this.vtime.keys()]) if (!groups.has(key)) this.vtime.delete(key);
    if (groups.size === 0) return null;
    // A core that (re)appears starts level with the others: it neither owes nor is owed time.
    const floor = this.vtime.size ? Math.min(...this.vtime.values()) : 0;
    let best: { key: string; rows: R[] } | null = null;
    for (const [key, rows] of groups) {
      if (!this.vtime.has(key)) this.vtime.set(key, floor);
      const v = this.vtime.get(key)!;
      const bv = best ? this.vtime.get(best.key)! : Infinity;
      if (v < bv || (v === bv && rows.length > best!.rows.length)) best = { key, rows };
    }
    return best;
  }

  /** Charges a group's step: its virtual time grows by the step's time (`rows` is kept for the callers' accounting). */
  charge(key: string, ms: number, _rows: number): void {
    this.vtime.set(key, (this.vtime.get(key) ?? 0) + ms);
  }

  /** Removes a request, waiting or running. */
  remove(p: P): void {
    this.running.delete(p);
    const i = this.waiting.indexOf(p);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  /** Requests waiting for admission (including reserved slots). */
  waitingCount(): number {
    return this.waiting.length + this.reserved;
  }

  runningRequests(): P[] {
    return [...this.running];
  }

  waitingRequests(): P[] {
    return [...this.waiting];
  }

  idle(): boolean {
    return this.running.size === 0 && this.waiting.length === 0;
  }

  /** True when a request arriving now would be admitted at the next step without waiting behind others. */
  private canAdmitNow(): boolean {
    return this.waiting.length === 0 && this.reserved === 0 && this.rowsInUse() < this.maxBatch;
  }
}
