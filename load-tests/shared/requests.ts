/**
 * Request bodies every scenario sends, shared by the k6 scripts and the Node driver so both put the
 * same load on the server. Each carries the prompt's known answer (`skip.reference_answer`) and tags
 * (`metadata`), so the server's request store records load tests like evaluations. Plain objects: no
 * Node or k6 APIs here.
 */
import { skipExtension, type LoadArm } from './arms.ts';
import type { LoadConfig } from './config.ts';
import type { LoadPrompt } from './prompts.ts';

/** The sampling seed for iteration `i`: the same across arms, so arms are compared on equal draws. */
export function seedFor(cfg: LoadConfig, iteration: number): number {
  return cfg.seed + iteration * 1009;
}

/** The `skip` extension of a request: the arm's policy options (none: the server decides) and the known answer. */
function skipFor(prompt: LoadPrompt, arm: LoadArm | null): Record<string, unknown> {
  return { ...(arm ? skipExtension(arm) : {}), reference_answer: prompt.answer };
}

/** The tags a load-test request carries into the server's records. */
export function loadMetadata(prompt: LoadPrompt, arm: LoadArm | null): Record<string, string> {
  return { source: 'load-test', prompt: prompt.id, arm: arm?.name ?? 'server' };
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
    skip: skipFor(prompt, arm),
    metadata: loadMetadata(prompt, arm),
  };
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
    skip: skipFor(prompt, arm),
    metadata: loadMetadata(prompt, arm),
  };
  return req;
}

/** The caller key (x-skipserve-key) of iteration `i` in the `ab` scenario: `cfg.callers` distinct callers. */
export function callerKey(cfg: LoadConfig, iteration: number): string {
  return `load-caller-${iteration % cfg.callers}`;
}
