/**
 * The store's events (written, dropped, feedback, errors) as metrics: the store declares none itself
 * and reports through this one hook, so every engine (SQLite, PostgreSQL) is counted the same way.
 */
import type { StoreEvent } from '../store/types.ts';
import type { Metrics } from './metrics.ts';

/** The `onEvent` hook that feeds `metrics`; `log` hears about failures. */
export function storeEventsToMetrics(metrics: Metrics, log?: (e: StoreEvent) => void): (e: StoreEvent) => void {
  return (e) => {
    switch (e.type) {
      case 'written':
        metrics.recordsWritten.inc(e.count);
        metrics.storeWriteDuration.observe({ operation: 'records' }, e.seconds);
        break;
      case 'dropped':
        metrics.recordsDropped.inc({ reason: e.reason }, e.count);
        break;
      case 'write_error':
        metrics.storeErrors.inc({ operation: 'records' }, e.count);
        break;
      case 'feedback':
        metrics.feedback.inc({ outcome: e.outcome });
        if (e.outcome === 'error') metrics.storeErrors.inc({ operation: 'feedback' });
        else metrics.storeWriteDuration.observe({ operation: 'feedback' }, e.seconds);
        break;
      case 'retention_error':
        metrics.storeErrors.inc({ operation: 'retention' });
        break;
      case 'watch_error':
        metrics.storeErrors.inc({ operation: 'versions' });
        break;
      case 'engine_error':
        metrics.storeErrors.inc({ operation: 'connection' });
        break;
      case 'retention':
        break;
    }
    log?.(e);
  };
}
