/**
 * What the HTTP and gRPC front ends share: the engine, the model's text tools, the policies, the
 * metrics, the server's readiness and the hook that gives a request without an explicit policy
 * its policy (the default, or its caller's A/B arm).
 */
import type { ServerConfig } from '../config.ts';
import type { Engine } from '../engine/engine.ts';
import type { TextTokenizer } from '../engine/types.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { ModelInfo } from '../model/model-info.ts';
import type { PolicyOptions } from '../plans/policies/policy.ts';
import type { PolicyRegistry } from '../plans/policies/registry.ts';
import type { ChatTemplate } from '../text/chat-template.ts';

/** The policy a request gets when it names none. */
export interface PolicyAssignment {
  policy: string;
  /** Set when the policy comes from an A/B arm. */
  arm?: string;
  /** The arm's fixed options (the request's own `skip` fields override them). */
  options: PolicyOptions;
}

export interface ApiContext {
  info: ModelInfo;
  config: ServerConfig;
  engine: Engine;
  tokenizer: TextTokenizer;
  chatTemplate: ChatTemplate | null;
  policies: PolicyRegistry;
  metrics: Metrics;
  /** Unix seconds the server started (the model's `created`). */
  startedAt: number;
  /** True once the model is loaded and until shutdown begins. */
  isReady(): boolean;
  /** Picks the policy of a request without `skip.policy`; `key` is the caller's sticky key. */
  assignPolicy(key: string | undefined): PolicyAssignment;
}
