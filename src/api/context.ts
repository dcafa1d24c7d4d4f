/**
 * What the HTTP and gRPC front ends share: the engine serving new requests (swapped by a reload:
 * read `model` once per request and submit to it in the same tick), the metrics shared across
 * reloads, the request store, the reloader, the server config, and readiness.
 */
import type { ServerConfig } from '../config.ts';
import type { BackgroundResponses } from './background-responses.ts';
import { AUTH_FAILURE_MESSAGE, type ApiKeys } from './auth/keys.ts';
import { AuthenticationError } from '../errors.ts';
import type { LocalEngine } from '../engine/local-engine.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { RequestStore } from '../store/types.ts';
import type { VersionReloader } from '../versions/reloader.ts';

export interface ApiContext {
  /** The engine new requests go to (changes when a reload swaps the model). */
  readonly model: LocalEngine;
  /** One registry for the server's life, whichever engine serves. */
  metrics: Metrics;
  /** Where served requests and feedback are kept (the `off` store when recording is off). */
  store: RequestStore;
  reloader: VersionReloader;
  config: ServerConfig;
  /** The API keys in force (constant-time checks, rotated from --api-keys-file), or null when auth is off. */
  keys: ApiKeys | null;
  /** The Responses API's background responses while they run (and those that failed or were cancelled). */
  background: BackgroundResponses;
  /** Unix seconds the server started (the model's `created`). */
  startedAt: number;
  /** Why the server should get no traffic now ('loading', 'draining', 'queue full'), or null when ready. */
  notReadyReason(): string | null;
  /** Why the server cannot serve until its process restarts (model-watch.ts), or null: /health answers 503 then. */
  unhealthyReason(): string | null;
}

/** The policy list both transports report. */
export function describePolicies(model: LocalEngine): { name: string; description: string; available: boolean; reason: string | null }[] {
  return model.policies.list().map((p) => {
    const why = p.unavailableReason();
    return { name: p.name, description: p.description, available: why === null, reason: why };
  });
}

/** Checks an Authorization header (HTTP header or gRPC metadata) against the keys in force; throws when refused. */
export function authorize(ctx: ApiContext, header: string | null | undefined): void {
  if (ctx.keys && !ctx.keys.verifyAuthorization(header).ok) throw new AuthenticationError(AUTH_FAILURE_MESSAGE);
}
