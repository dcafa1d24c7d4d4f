/**
 * Tells listeners which model and selector versions are promoted, at once and then on every
 * change: polls the store's change counter, and reacts at once to push notifications (PostgreSQL
 * LISTEN/NOTIFY) and to changes made through this store. Checks run one at a time, in order.
 */
import type { StoreBackend } from './backend.ts';
import type { PromotedVersions } from './types.ts';
import { promotedKey } from './versions.ts';

type Listener = (promoted: PromotedVersions) => void;

export class VersionWatch {
  private listeners = new Set<Listener>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private lastSeq = -1;
  private lastKey: string | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly backend: StoreBackend,
    private readonly pollMs: number,
    private readonly onError: (e: Error) => void,
  ) {}

  /** Adds a listener, called soon with the current promoted versions, then on every change. */
  watch(listener: Listener): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.start();
    this.check(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  /** Something may have changed (a local promotion, a notification): check now. */
  changed(): void {
    if (this.listeners.size > 0) this.check();
  }

  /** Stops polling and listening; resolves when a running check has finished. */
  async close(): Promise<void> {
    this.listeners.clear();
    this.stop();
    await this.chain;
  }

  private start(): void {
    this.timer = setInterval(() => this.check(), this.pollMs);
    this.timer.unref();
    this.unsubscribe = this.backend.subscribe?.(() => this.check(), this.onError);
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.lastSeq = -1;
    this.lastKey = null;
  }

  private check(newcomer?: Listener): void {
    this.chain = this.chain.then(async () => {
      if (this.listeners.size === 0) return;
      try {
        const seq = await this.backend.versionSeq();
        if (seq === this.lastSeq && !newcomer) return;
        const promoted = await this.backend.promoted();
        this.lastSeq = promoted.seq;
        const key = promotedKey(promoted);
        if (key !== this.lastKey) {
          this.lastKey = key;
          for (const l of [...this.listeners]) this.call(l, promoted);
        } else if (newcomer && this.listeners.has(newcomer)) this.call(newcomer, promoted);
      } catch (e) {
        this.onError(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  private call(listener: Listener, promoted: PromotedVersions): void {
    try {
      listener(promoted);
    } catch (e) {
      this.onError(e instanceof Error ? e : new Error(String(e)));
    }
  }
}
