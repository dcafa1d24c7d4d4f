/**
 * One domain error hierarchy for the whole server, free of any transport: an error says what went
 * wrong (`kind`), a stable `code`, and the domain field at fault (`field`, e.g. `n`, `policy`,
 * `plans[2].skip_attention[1]`). src/api/http/errors.ts and src/api/grpc/errors.ts each map these
 * to their status codes and wire field names, in one place.
 */

/** What kind of failure an error is; each transport maps a kind to its status. */
export type ErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'not_found'
  | 'queue_full'
  | 'unavailable'
  | 'policy_unavailable'
  | 'disabled'
  | 'too_large'
  | 'cancelled'
  | 'deadline'
  | 'internal';

/** Base class: the kind, a stable code and the offending domain field. */
export class SkipserveError extends Error {
  readonly kind: ErrorKind = 'internal';
  readonly code: string | null = null;
  /** The request field at fault, in domain form (camelCase; plan JSON paths as written). */
  readonly field: string | null;

  constructor(message: string, field: string | null = null) {
    super(message);
    this.name = new.target.name;
    this.field = field;
  }
}

/** A request field is missing, malformed or out of range. */
export class InvalidRequestError extends SkipserveError {
  override readonly kind = 'invalid';
  override readonly code: string | null;
  constructor(message: string, field: string | null = null, code: string | null = 'invalid_value') {
    super(message, field);
    this.code = code;
  }
}

/** Missing or wrong API key. */
export class AuthenticationError extends SkipserveError {
  override readonly kind = 'unauthenticated';
  override readonly code = 'invalid_api_key';
}

/** Unknown model, record or route. */
export class NotFoundError extends SkipserveError {
  override readonly kind = 'not_found';
  override readonly code = 'not_found';
}

/** The waiting queue is full: refused at once; retry after `retryAfterSeconds`. */
export class QueueFullError extends SkipserveError {
  override readonly kind = 'queue_full';
  override readonly code = 'queue_full';
  constructor(
    message: string,
    readonly retryAfterSeconds = 1,
  ) {
    super(message);
  }
}

/** The server is draining or not ready. */
export class UnavailableError extends SkipserveError {
  override readonly kind = 'unavailable';
  override readonly code = 'unavailable';
  readonly retryAfterSeconds = 1;
}

/** A policy exists but cannot run here (e.g. its selector file is missing). */
export class PolicyUnavailableError extends SkipserveError {
  override readonly kind = 'policy_unavailable';
  override readonly code = 'policy_unavailable';
}

/** The feature is turned off on this server (e.g. feedback and lookups with `--store off`). */
export class DisabledError extends SkipserveError {
  override readonly kind = 'disabled';
  override readonly code: string;
  constructor(message: string, code = 'disabled') {
    super(message);
    this.code = code;
  }
}

/** The request (body, message or prompt) is larger than the server accepts. */
export class PayloadTooLargeError extends SkipserveError {
  override readonly kind = 'too_large';
  override readonly code = 'request_too_large';
}

/** The request was cancelled by the client. */
export class CancelledError extends SkipserveError {
  override readonly kind = 'cancelled';
  override readonly code = 'cancelled';
}

/** The request's deadline passed. */
export class DeadlineExceededError extends SkipserveError {
  override readonly kind = 'deadline';
  override readonly code = 'deadline_exceeded';
}

/** Startup configuration is wrong; the message says what to fix and `field` names the setting. */
export class ConfigError extends SkipserveError {}

/** Wraps anything into a SkipserveError (unknown errors become internal ones). */
export function asSkipserveError(err: unknown): SkipserveError {
  if (err instanceof SkipserveError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SkipserveError(`internal error: ${message}`);
}

/** True for failures caused by the caller (the 4xx family), false for the server's own. */
export function isClientError(err: SkipserveError): boolean {
  return err.kind !== 'internal' && err.kind !== 'unavailable';
}
