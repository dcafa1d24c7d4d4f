/**
 * What the HTTP and gRPC front ends share: the model served in this process (its engine, policies
 * and request preparation), the server config, and readiness.
 */
import type { ServerConfig } from '../config.ts';
import type { LocalEngine } from '../engine/local-engine.ts';

export interface ApiContext {
  model: LocalEngine;
  config: ServerConfig;
  /** Unix seconds the server started (the model's `created`). */
  startedAt: number;
  /** Why the server should get no traffic now ('loading', 'draining', 'queue full'), or null when ready. */
  notReadyReason(): string | null;
}

/** The policy list both transports report. */
export function describePolicies(ctx: ApiContext): { name: string; description: string; available: boolean; reason: string | null }[] {
  return ctx.model.policies.list().map((p) => {
    const why = p.unavailableReason();
    return { name: p.name, description: p.description, available: why === null, reason: why };
  });
}
