/**
 * The retention job: deletes records (with their candidates and feedback) older than a number of
 * days, once at start and then periodically. Runs never overlap; failures are reported, not thrown.
 */
import type { RequestStore, StoreEvent } from './types.ts';

export interface RetentionOptions {
  /** Keep records this many days; 0 keeps them forever (the job does nothing). */
  days: number;
  /** Between runs (default one hour). */
  intervalMs?: number;
  onEvent?: (event: StoreEvent) => void;
}

export interface RetentionJob {
  /** Runs one purge now (after any running one) and resolves with the records deleted. */
  runOnce(): Promise<number>;
  stop(): void;
}

const DAY_MS = 86_400_000;

/** Starts the periodic purge; its timer does not keep the process alive. */
export function startRetention(store: RequestStore, opts: RetentionOptions): RetentionJob {
  if (!(opts.days >= 0) || !Number.isFinite(opts.days)) throw new RangeError(`retention days must be >= 0, got ${opts.days}`);
  let chain: Promise<number> = Promise.resolve(0);
  const runOnce = (): Promise<number> => {
    if (opts.days === 0) return Promise.resolve(0);
    chain = chain.then(async () => {
      const t0 = performance.now();
      try {
        const deleted = await store.deleteOlderThan(Date.now() - opts.days * DAY_MS);
        opts.onEvent?.({ type: 'retention', deleted, seconds: (performance.now() - t0) / 1000 });
        return deleted;
      } catch (e) {
        opts.onEvent?.({ type: 'retention_error', error: e instanceof Error ? e : new Error(String(e)) });
        return 0;
      }
    });
    return chain;
  };
  if (opts.days === 0) return { runOnce, stop: () => undefined };
  const first = setTimeout(() => void runOnce(), 0);
  const timer = setInterval(() => void runOnce(), opts.intervalMs ?? 3_600_000);
  first.unref();
  timer.unref();
  return {
    runOnce,
    stop: () => {
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}
