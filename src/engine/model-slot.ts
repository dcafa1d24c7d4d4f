/**
 * The engine the server serves with, swappable under traffic. A reload opens the next engine in the
 * background, then `replace` makes it current in one synchronous step: every request submitted from
 * then on goes to it, while the previous engine finishes the requests it already holds (they end on
 * the version they started on) and is closed once they are done. Callers pick `current()` and submit
 * to it in the same tick, so no request can reach an engine that has begun to drain.
 */
import type { LocalEngine } from './local-engine.ts';

export class ModelSlot {
  private engine: LocalEngine;
  /** Previous engines still finishing their requests. */
  private readonly retiring = new Set<Promise<void>>();

  constructor(
    engine: LocalEngine,
    /** Most time a replaced engine gets to finish its requests before they are cancelled. */
    private readonly drainMs: number,
  ) {
    this.engine = engine;
  }

  /** The engine new requests go to. */
  current(): LocalEngine {
    return this.engine;
  }

  /** Serves `next` from now on; the previous engine drains and closes in the background. */
  replace(next: LocalEngine): void {
    const old = this.engine;
    this.engine = next;
    const done: Promise<void> = old.close(this.drainMs).finally(() => this.retiring.delete(done));
    this.retiring.add(done);
  }

  /** Drains the current engine (and any replaced ones) for up to `drainMs`, then closes them all. */
  async close(drainMs: number): Promise<void> {
    await Promise.allSettled([this.engine.close(drainMs), ...this.retiring]);
  }
}
