/**
 * Cancellation of one request: the client's AbortSignal (disconnect, gRPC cancel) and the
 * request's deadline both end up as one reason the engine reads at its next step.
 */
import { CancelledError, DeadlineExceededError, SkipserveError } from '../errors.ts';

export class Cancellation {
  /** Set once the request must stop; the engine frees its rows at the next step. */
  reason: SkipserveError | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** The signal's reason when the caller gave a domain one (a passed gRPC deadline), else "cancelled". */
  private readonly onAbort = () => {
    const why: unknown = this.signal?.reason;
    this.cancel(why instanceof SkipserveError ? why : new CancelledError('the client cancelled the request'));
  };

  /**
   * @param onCancel called once when the request is cancelled (the engine wakes its loop)
   */
  constructor(
    private readonly signal: AbortSignal | undefined,
    deadline: number | undefined,
    private readonly onCancel: () => void,
  ) {
    if (signal?.aborted) this.onAbort();
    else signal?.addEventListener('abort', this.onAbort, { once: true });
    if (deadline !== undefined && this.reason === null) {
      const ms = Math.max(0, deadline - Date.now());
      this.timer = setTimeout(() => this.cancel(new DeadlineExceededError(`the request's deadline passed`)), ms);
      this.timer.unref();
    }
  }

  /** Marks the request cancelled with a reason (the first reason wins). */
  cancel(reason: SkipserveError): void {
    if (this.reason) return;
    this.reason = reason;
    this.dispose();
    this.onCancel();
  }

  /** Removes listeners and timers (the request is over). */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}
