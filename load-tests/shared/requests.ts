/**
 * Request bodies every scenario sends, shared by the k6 scripts and the Node driver so both put the
 * same load on the server. Plain objects: no Node or k6 APIs here.
 */
import { skipExtension, type LoadArm } from './arms.ts';
import type { LoadConfig } from './config.ts';
import type { LoadPrompt } from './prompts.ts';

/** The sampling seed for iteration `i`: the same across arms, so arms are compared on equal draws. */
export function seedFor(cfg: LoadConfig, iteration: number): number {
  return cfg.seed + iteration * 1009;
}

/**
 * OpenAI chat-completions body with the `skip` extension. `arm` null sends no policy, so the
 * server's default (or the caller's sticky A/B arm) applies.
 */
export function chatBody(
  cfg: LoadConfig,
  prompt: LoadPrompt,
  arm: LoadArm | null,
  iteration: number,
  stream: boolean,
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: cfg.model,
    messages: [{ role: 'user', content: prompt.question }],
    n: cfg.n,
    max_tokens: cfg.maxTokens,
    temperature: cfg.temperature,
    seed: seedFor(cfg, iteration),
  };
  if (arm) body.skip = skipExtension(arm);
  if (stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  return body;
}

/** skipserve.v1.GenerateRequest (proto field names) for the gRPC scenarios. */
export function grpcGenerateRequest(
  cfg: LoadConfig,
  prompt: LoadPrompt,
  arm: LoadArm | null,
  iteration: number,
): Record<string, unknown> {
  const req: Record<string, unknown> = {
    model: cfg.model,
    messages: [{ role: 'user', content: prompt.question }],
    n: cfg.n,
    max_tokens: cfg.maxTokens,
    temperature: cfg.temperature,
    seed: String(seedFor(cfg, iteration)),
  };
  if (arm) req.skip = skipExtension(arm);
  return req;
}

/** The caller key (x-skipserve-key) of iteration `i` in the `ab` scenario: `cfg.callers` distinct callers. */
export function callerKey(cfg: LoadConfig, iteration: number): string {
  return `load-caller-${iteration % cfg.callers}`;
}
