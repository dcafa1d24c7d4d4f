/**
 * Counting finished requests by outcome exactly once. The engine counts what it sees (with the
 * request's policy); errors raised before a request reaches the engine (validation at the edge)
 * are counted by the transport with policy="unknown", so the `policy` label stays bounded.
 */
import { asSkipserveError, isClientError } from '../errors.ts';
import type { Metrics, Outcome } from './metrics.ts';

const counted = new WeakSet<object>();

/** Records that this error was already counted (by the engine). */
export function markCounted(err: object): void {
  counted.add(err);
}

/** The outcome label of an error. */
export function outcomeOf(err: unknown): Outcome {
  const e = asSkipserveError(err);
  if (e.code === 'queue_full' || e.code === 'unavailable') return 'rejected';
  if (e.code === 'cancelled') return 'cancelled';
  if (e.code === 'deadline_exceeded') return 'deadline';
  return isClientError(e) ? 'invalid' : 'error';
}

/** Counts an error seen by a transport unless the engine already counted it. */
export function countEdgeError(metrics: Metrics, err: unknown): void {
  if (err !== null && typeof err === 'object' && counted.has(err)) return;
  metrics.requests.inc({ policy: 'unknown', outcome: outcomeOf(err) });
}
