/**
 * One model served in this process: the runner (its worker thread), tokenizer, chat template,
 * policies, request stats and the engine, wired together. The server, `skipserve generate`,
 * `eval` and the router tools all open the model this way, so what they measure is what the
 * server does: the same request gives the same candidates, answers and vote everywhere.
 */
import { basename, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import { createMetrics, type Metrics } from '../metrics/metrics.ts';
import type { ModelInfo } from '../model/model-info.ts';
import { loadRunner } from '../model/runner.ts';
import type { ModelRunner } from '../model/runner-types.ts';
import { assignArm, type ArmsConfig } from '../plans/arms.ts';
import { createPolicyRegistry, type PolicyRegistry } from '../plans/policies/registry.ts';
import { loadChatTemplate, type ChatTemplate } from '../text/chat-template.ts';
import { TextTokenizer } from '../text/tokenizer.ts';
import { Engine, type EngineLog, type RequestHandle } from './engine.ts';
import { prepareRequest, type RequestServices } from './prepare-request.ts';
import { RequestStats } from './request-stats.ts';
import type { GenerationResult, RequestSpec } from './types.ts';

export interface LocalEngineOptions {
  modelDir: string;
  /** Model id the API reports (default: the directory's name). */
  modelId?: string;
  threads?: number;
  spin?: boolean;
  maxBatch: number;
  maxQueue?: number;
  prefillChunk?: number;
  defaultMaxTokens?: number;
  defaultPolicy?: string;
  defaults?: { k?: number; targetSpeedup?: number };
  optionalPolicies?: readonly string[];
  /** Writable directory for latency profiles (null: memory only). */
  profileCacheDir?: string | null;
  arms?: ArmsConfig | null;
  measureSpeedup?: boolean;
  log?: EngineLog & { warn(obj: object, msg: string): void };
}

/** The model, its text tools, its policies and the engine, in this process. */
export interface LocalEngine extends RequestServices {
  runner: ModelRunner;
  engine: Engine;
  metrics: Metrics;
  defaultPolicy: string;
  /** Checks a request spec and submits it (what every transport and tool does). */
  submit(spec: RequestSpec): Promise<RequestHandle>;
  /** submit + wait for the result. */
  generate(spec: RequestSpec): Promise<GenerationResult>;
  close(): Promise<void>;
}

/** Loads the model into its worker and builds everything around it; errors say what to fix. */
export async function openLocalEngine(o: LocalEngineOptions): Promise<LocalEngine> {
  const modelDir = resolve(o.modelDir);
  if (!existsSync(modelDir)) throw new ConfigError(`model directory ${modelDir} does not exist (set --model)`, 'model');
  const runner = await loadRunner({ modelDir, threads: o.threads, maxBatch: o.maxBatch, spin: o.spin });
  try {
    const info: ModelInfo = { ...runner.info, id: o.modelId ?? runner.info.id ?? basename(modelDir) };
    const tokenizer = TextTokenizer.load(modelDir);
    const chatTemplate: ChatTemplate | null = loadChatTemplate(modelDir);
    const policies: PolicyRegistry = await createPolicyRegistry(
      { info, modelDir, runner, defaults: { k: o.defaults?.k ?? 2, targetSpeedup: o.defaults?.targetSpeedup ?? 1.25 }, profileCacheDir: o.profileCacheDir ?? null },
      { optional: o.optionalPolicies, onOptionalFailure: (name, err) => o.log?.warn({ policy: name, err: (err as Error).message }, 'optional policy failed to load') },
    );
    const defaultPolicy = o.defaultPolicy ?? 'none';
    if (!policies.get(defaultPolicy)) throw new ConfigError(`default policy '${defaultPolicy}' is not a known policy (${policies.names().join(', ')})`, 'default-policy');
    const arms = o.arms ?? null;
    for (const [i, a] of (arms?.arms ?? []).entries()) {
      if (!policies.get(a.policy)) throw new ConfigError(`arms.${i}.policy '${a.policy}' is not one of: ${policies.names().join(', ')}`, 'arms');
    }
    const metrics = createMetrics();
    const engine = new Engine({
      runner,
      tokenizer,
      stats: new RequestStats(metrics),
      maxBatch: o.maxBatch,
      maxQueue: o.maxQueue ?? 64,
      prefillChunk: o.prefillChunk,
      measureSpeedup: o.measureSpeedup,
      log: o.log,
    });
    const services: RequestServices = {
      info,
      tokenizer,
      chatTemplate,
      policies,
      limits: { maxBatch: o.maxBatch, defaultMaxTokens: o.defaultMaxTokens ?? 256 },
      assignPolicy(key) {
        // The A/B hook: without arms every request without a policy gets the default.
        if (!arms) return { policy: defaultPolicy, options: {} };
        const arm = assignArm(arms, key);
        return { policy: arm.policy, arm: arm.name, options: arm.options };
      },
    };
    const submit = (spec: RequestSpec) => engine.submit(prepareRequest(services, spec));
    return {
      ...services,
      runner,
      engine,
      metrics,
      defaultPolicy,
      submit,
      generate: async (spec) => (await submit(spec)).result,
      async close() {
        await engine.drain(0);
        await runner.close();
      },
    };
  } catch (err) {
    await runner.close();
    throw err;
  }
}
