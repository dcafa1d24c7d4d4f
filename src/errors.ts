/**
 * One error hierarchy for the whole server. Every error the API can return is a SkipserveError;
 * `toHttp` and `toGrpc` map it to the HTTP status + OpenAI error body and to a gRPC status code.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';

/** OpenAI-style error body: `{error: {message, type, param, code}}`. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** Base class: carries the HTTP status, the gRPC code, the OpenAI type and the offending field. */
export class SkipserveError extends Error {
  readonly httpStatus: number = 500;
  readonly grpcCode: number = GrpcStatus.INTERNAL;
  readonly type: string = 'server_error';
  readonly code: string | null = null;
  /** The request field at fault, in wire form (e.g. `n`, `skip.plans[2].mask_heads`). */
  readonly param: string | null;

  constructor(message: string, param: string | null = null) {
    super(message);
    this.name = new.target.name;
    this.param = param;
  }
}

/** A request field is missing, malformed or out of range (400 / INVALID_ARGUMENT). */
export class InvalidRequestError extends SkipserveError {
  override readonly httpStatus = 400;
  override readonly grpcCode = GrpcStatus.INVALID_ARGUMENT;
  override readonly type = 'invalid_request_error';
  override readonly code: string | null;
  constructor(message: string, param: string | null = null, code: string | null = 'invalid_value') {
    super(message, param);
    this.code = code;
  }
}

/** Missing or wrong API key (401 / UNAUTHENTICATED). */
export class AuthenticationError extends SkipserveError {
  override readonly httpStatus = 401;
  override readonly grpcCode = GrpcStatus.UNAUTHENTICATED;
  override readonly type = 'authentication_error';
  override readonly code = 'invalid_api_key';
}

/** Unknown model id or route (404 / NOT_FOUND). */
export class NotFoundError extends SkipserveError {
  override readonly httpStatus = 404;
  override readonly grpcCode = GrpcStatus.NOT_FOUND;
  override readonly type = 'invalid_request_error';
  override readonly code = 'not_found';
}

/** The waiting queue is full: refused at once (429 / RESOURCE_EXHAUSTED). */
export class QueueFullError extends SkipserveError {
  override readonly httpStatus = 429;
  override readonly grpcCode = GrpcStatus.RESOURCE_EXHAUSTED;
  override readonly type = 'rate_limit_error';
  override readonly code = 'queue_full';
}

/** The server is draining or not ready (503 / UNAVAILABLE). */
export class UnavailableError extends SkipserveError {
  override readonly httpStatus = 503;
  override readonly grpcCode = GrpcStatus.UNAVAILABLE;
  override readonly type = 'server_error';
  override readonly code = 'unavailable';
}

/** A policy exists but cannot run here (e.g. its selector file is missing) (400 / FAILED_PRECONDITION). */
export class PolicyUnavailableError extends SkipserveError {
  override readonly httpStatus = 400;
  override readonly grpcCode = GrpcStatus.FAILED_PRECONDITION;
  override readonly type = 'invalid_request_error';
  override readonly code = 'policy_unavailable';
}

/** The request was cancelled by the client (499 / CANCELLED). */
export class CancelledError extends SkipserveError {
  override readonly httpStatus = 499;
  override readonly grpcCode = GrpcStatus.CANCELLED;
  override readonly type = 'cancelled';
  override readonly code = 'cancelled';
}

/** The request's deadline passed (504 / DEADLINE_EXCEEDED). */
export class DeadlineExceededError extends SkipserveError {
  override readonly httpStatus = 504;
  override readonly grpcCode = GrpcStatus.DEADLINE_EXCEEDED;
  override readonly type = 'timeout';
  override readonly code = 'deadline_exceeded';
}

/** Startup configuration is wrong; the message says what to fix. */
export class ConfigError extends SkipserveError {}

/** Wraps anything into a SkipserveError (unknown errors become 500 / INTERNAL). */
export function asSkipserveError(err: unknown): SkipserveError {
  if (err instanceof SkipserveError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SkipserveError(`internal error: ${message}`);
}

/** Maps any error to its HTTP status and OpenAI error body. */
export function toHttp(err: unknown): { status: number; body: OpenAiErrorBody } {
  const e = asSkipserveError(err);
  return {
    status: e.httpStatus,
    body: { error: { message: e.message, type: e.type, param: e.param, code: e.code } },
  };
}

/** Maps any error to a gRPC status code and details string (the field is named in the details). */
export function toGrpc(err: unknown): { code: number; details: string } {
  const e = asSkipserveError(err);
  return { code: e.grpcCode, details: e.param ? `${e.param}: ${e.message}` : e.message };
}
