/**
 * The server's request store: opened from `--store` with the queue and polling settings, its events
 * turned into metrics (and failures into rate-limited log lines), and its retention job. A store
 * that cannot be opened stops startup with a ConfigError naming the setting.
 */
import type { Logger } from 'pino';
import type { ServerConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { storeEventsToMetrics } from '../metrics/store-events.ts';
import { describeStore, openStore } from '../store/open-store.ts';
import { startRetention, type RetentionJob } from '../store/retention.ts';
import type { RequestStore, StoreEvent } from '../store/types.ts';

/** Logs store failures, at most one line per kind every 10 s (a full queue under load drops many records). */
function storeLogger(log: Logger): (e: StoreEvent) => void {
  const last = new Map<string, { at: number; count: number }>();
  return (e) => {
    const bad = e.type === 'write_error' || e.type === 'retention_error' || e.type === 'watch_error' || e.type === 'engine_error' || e.type === 'dropped' || (e.type === 'feedback' && e.outcome === 'error');
    if (!bad) return;
    const key = e.type === 'dropped' ? `dropped:${e.reason}` : e.type;
    const seen = last.get(key) ?? { at: 0, count: 0 };
    seen.count += 'count' in e ? e.count : 1;
    last.set(key, seen);
    if (Date.now() - seen.at < 10_000) return;
    const err = 'error' in e ? e.error.message : undefined;
    log.warn({ event: key, count: seen.count, ...(err ? { err } : {}), ...(e.type === 'dropped' && e.message ? { why: e.message } : {}) }, 'request store trouble (counted in skipserve_store_* metrics)');
    seen.at = Date.now();
    seen.count = 0;
  };
}

/** Opens the configured store (applying migrations) and starts its retention job. */
export async function openServerStore(config: ServerConfig, metrics: Metrics, log: Logger): Promise<{ store: RequestStore; retention: RetentionJob }> {
  const onEvent = storeEventsToMetrics(metrics, storeLogger(log));
  let store: RequestStore;
  try {
    store = await openStore(config.store, { queueSize: config.storeQueue, versionPollMs: config.versionPoll * 1000, onEvent });
  } catch (err) {
    throw new ConfigError(`cannot open the request store --store ${describeStore(config.store)} (SKIPSERVE_STORE): ${(err as Error).message}`, 'store');
  }
  const retention = startRetention(store, { days: store.engine === 'off' ? 0 : config.storeRetentionDays, onEvent });
  log.info({ store: describeStore(config.store), engine: store.engine, queue: config.storeQueue, retentionDays: config.storeRetentionDays }, 'request store open');
  return { store, retention };
}
