/**
 * Domain errors -> HTTP: status code, OpenAI error body (`{error: {message, type, param, code}}`,
 * `param` in wire form) and the Retry-After header of 429 and 503. The one place HTTP maps errors.
 */
import type { Context } from 'hono';
import { asSkipserveError, type ErrorKind } from '../../errors.ts';
import { wireField, wireMessage } from '../wire-fields.ts';

/** OpenAI-style error body. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const STATUS: Record<ErrorKind, { status: number; type: string }> = {
  invalid: { status: 400, type: 'invalid_request_error' },
  unauthenticated: { status: 401, type: 'authentication_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  queue_full: { status: 429, type: 'rate_limit_error' },
  unavailable: { status: 503, type: 'server_error' },
  policy_unavailable: { status: 400, type: 'invalid_request_error' },
  disabled: { status: 501, type: 'invalid_request_error' },
  too_large: { status: 413, type: 'invalid_request_error' },
  cancelled: { status: 499, type: 'cancelled' },
  deadline: { status: 504, type: 'timeout' },
  internal: { status: 500, type: 'server_error' },
};

/** Maps any error to its HTTP status, OpenAI error body and extra headers. */
export function toHttp(err: unknown, fieldOverrides?: Record<string, string>): { status: number; body: OpenAiErrorBody; headers: Record<string, string> } {
  const e = asSkipserveError(err);
  const { status, type } = STATUS[e.kind];
  const retry = (e as { retryAfterSeconds?: number }).retryAfterSeconds;
  return {
    status,
    body: { error: { message: wireMessage(e.message, fieldOverrides), type, param: wireField(e.field, fieldOverrides), code: e.code } },
    headers: retry !== undefined ? { 'Retry-After': String(Math.max(1, Math.ceil(retry))) } : {},
  };
}

/** An error response, with the field names of this request and Retry-After where it applies. */
export function errorResponse(c: Context, err: unknown, fields?: Record<string, string>): Response {
  const { status, body, headers } = toHttp(err, fields);
  for (const [k, v] of Object.entries(headers)) c.header(k, v);
  return c.json(body, status as 400);
}
