/**
 * Domain errors -> gRPC: status code, details naming the proto field, and a `retry-after` trailer
 * for RESOURCE_EXHAUSTED / UNAVAILABLE. The one place gRPC maps errors.
 */
import * as grpc from '@grpc/grpc-js';
import { asSkipserveError, type ErrorKind } from '../../errors.ts';
import { wireField, wireMessage } from '../wire-fields.ts';

const CODE: Record<ErrorKind, grpc.status> = {
  invalid: grpc.status.INVALID_ARGUMENT,
  unauthenticated: grpc.status.UNAUTHENTICATED,
  not_found: grpc.status.NOT_FOUND,
  queue_full: grpc.status.RESOURCE_EXHAUSTED,
  unavailable: grpc.status.UNAVAILABLE,
  policy_unavailable: grpc.status.FAILED_PRECONDITION,
  disabled: grpc.status.UNIMPLEMENTED,
  too_large: grpc.status.RESOURCE_EXHAUSTED,
  cancelled: grpc.status.CANCELLED,
  deadline: grpc.status.DEADLINE_EXCEEDED,
  internal: grpc.status.INTERNAL,
};

/** gRPC's Tool is flat: a tool's `function.parameters` is its `parameters`. */
const GRPC_PATHS = { 'tools[*].function.': 'tools[*].' };

/** Maps any error to a gRPC ServiceError (the field, in proto form, leads the details). */
export function toGrpc(err: unknown): grpc.ServiceError {
  const e = asSkipserveError(err);
  const field = wireField(e.field, GRPC_PATHS);
  const message = wireMessage(e.message, GRPC_PATHS);
  const details = field ? `${field}: ${message}` : message;
  const metadata = new grpc.Metadata();
  const retry = (e as { retryAfterSeconds?: number }).retryAfterSeconds;
  if (retry !== undefined) metadata.set('retry-after', String(Math.max(1, Math.ceil(retry))));
  return Object.assign(new Error(details), { code: CODE[e.kind], details, metadata });
}
