/**
 * How a gRPC call that ends without an answer is told apart and counted. grpc-js reports a passed
 * deadline as a cancel, so the deadline decides which it was. A call whose deadline passes (or whose
 * client cancels) before grpc-js hands it to a handler never reaches the engine: an interceptor
 * counts it, so `skipserve_requests_total` (and the embeddings counter) still sees every call.
 */
import * as grpc from '@grpc/grpc-js';
import { CancelledError, DeadlineExceededError } from '../../errors.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import { outcomeOf } from '../../metrics/outcomes.ts';

/** A call's deadline in epoch milliseconds, or undefined when it has none. */
export function deadlineOf(call: { getDeadline(): grpc.Deadline }): number | undefined {
  const d = call.getDeadline();
  return d instanceof Date ? d.getTime() : Number.isFinite(d) ? Number(d) : undefined;
}

/**
 * The error of a call that went away: its deadline passed, or its client cancelled. The server dates a
 * deadline from when it read the call, later than the client did: `lag` allows for that.
 */
export function goneError(deadline: number | undefined, lag: number): CancelledError | DeadlineExceededError {
  return deadline !== undefined && Date.now() >= deadline - lag
    ? new DeadlineExceededError("the request's deadline passed")
    : new CancelledError('the client cancelled the request');
}

/** The lag allowed for a deadline read now: a tenth of what is left, at least 100 ms. */
export function deadlineLag(deadline: number | undefined): number {
  return deadline === undefined ? 0 : Math.max(100, 0.1 * (deadline - Date.now()));
}

/**
 * Counts calls of these methods that end before their handler runs: `generation` paths in
 * `skipserve_requests_total` with policy "unknown", `embedding` paths in
 * `skipserve_embedding_requests_total`. A unary or server-streaming handler runs when the request's
 * half-close arrives after its message (a client that resets the stream first also half-closes it,
 * with no message, and no handler runs). The outcome is `deadline` when the deadline has passed, else
 * `cancelled` (also for a message grpc-js itself refuses as too large: its status never passes here).
 */
export function countUndispatched(metrics: Metrics, paths: { generation: string[]; embedding: string[] }): grpc.ServerInterceptor {
  const generation = new Set(paths.generation);
  const embedding = new Set(paths.embedding);
  return (method, call) => {
    const counter = generation.has(method.path) ? 'generation' : embedding.has(method.path) ? 'embedding' : null;
    if (counter === null) return new grpc.ServerInterceptingCall(call);
    let message = false;
    let dispatched = false;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (m, toHandler) => {
            message = true;
            toHandler(m);
          },
          onReceiveHalfClose: (toHandler) => {
            dispatched = message;
            toHandler();
          },
          onCancel: () => {
            if (dispatched) return;
            dispatched = true;
            // grpc-js's deadline timer can fire a millisecond before Date.now() reaches the deadline
            // it dated (timers run on another clock): the handlers' lag, so that is a deadline too.
            const deadline = deadlineOf(call);
            const outcome = outcomeOf(goneError(deadline, deadlineLag(deadline)));
            if (counter === 'generation') metrics.requests.inc({ policy: 'unknown', outcome });
            else metrics.embeddingRequests.inc({ outcome });
          },
        }),
    });
  };
}
