/**
 * Boots the whole server from a config: loads the model into its worker, the tokenizer and chat
 * template, the policies (built-ins plus every plug-in module of src/plans/policies/), the A/B
 * arms, measures the dense-step profile for the speedup metric, starts the engine and the HTTP
 * and gRPC front ends. `drain` implements graceful shutdown: readiness turns false, new requests
 * are refused, in-flight ones finish, then everything closes.
 */
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import pino, { type Logger } from 'pino';
import type { ServerConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { Engine } from '../engine/engine.ts';
import { measureDenseProfile, type DenseProfile } from '../engine/dense-profile.ts';
import type { SamplerFactory } from '../engine/types.ts';
import { createMetrics } from '../metrics/metrics.ts';
import { loadRunner } from '../model/runner.ts';
import { assignArm, loadArmsFromEnv } from '../plans/arms.ts';
import { planCost, validatePlan, PlanError, type SkipPlan } from '../plans/plan.ts';
import { builtinRegistry, discoverPolicies } from '../plans/policies/registry.ts';
import { Rng } from '../util/rng.ts';
import { sample } from '../sampling/sampler.ts';
import { loadChatTemplate } from '../text/chat-template.ts';
import { TextTokenizer } from '../text/tokenizer.ts';
import { InvalidRequestError } from '../errors.ts';
import type { ApiContext, PolicyAssignment } from './context.ts';
import { createHttpApp } from './http/app.ts';
import { startGrpcServer, type GrpcServerHandle } from './grpc/server.ts';

export interface RunningServer {
  ctx: ApiContext;
  httpPort: number;
  /** -1 when gRPC is disabled. */
  grpcPort: number;
  profile: DenseProfile | null;
  /** Graceful shutdown: not ready, refuse new requests, finish in-flight ones (up to timeoutMs), close. */
  drain(timeoutMs?: number): Promise<void>;
  /** Immediate shutdown (tests). */
  close(): Promise<void>;
}

/** Seeded sampler from sampling/: candidate i gets its own Rng(seed + i). */
const samplerFactory: SamplerFactory = (params, seed) => {
  const rng = new Rng(seed);
  return (logits) => sample(logits, params, rng);
};

/** Starts everything; throws ConfigError with what to fix when the model directory is unusable. */
export async function startServer(config: ServerConfig, log: Logger = pino({ level: config.logLevel })): Promise<RunningServer> {
  const modelDir = resolve(config.model);
  if (!existsSync(modelDir)) throw new ConfigError(`model directory ${modelDir} does not exist (set --model or SKIPSERVE_MODEL)`, 'model');
  const t0 = performance.now();
  const runner = await loadRunner({ modelDir, threads: config.threads || undefined, maxBatch: config.maxBatch });
  const info = { ...runner.info, id: config.modelId ?? runner.info.id ?? basename(modelDir) };
  const tokenizer = TextTokenizer.load(modelDir);
  const chatTemplate = loadChatTemplate(modelDir);
  log.info({ model: modelDir, id: info.id, architecture: info.architecture, layers: info.numLayers, heads: info.numHeads, hidden: info.hiddenSize, vocab: info.vocabSize, context: info.maxPositions, chatTemplate: chatTemplate !== null, loadMs: Math.round(performance.now() - t0) }, 'model loaded');

  const deps = { info, modelDir, runner, defaults: { k: config.defaultK } };
  const policies = builtinRegistry(deps);
  await discoverPolicies(policies, deps, (file, err) => log.warn({ file, err: (err as Error).message }, 'policy module failed to load'));
  if (!policies.get(config.defaultPolicy)) throw new ConfigError(`--default-policy '${config.defaultPolicy}' is not a known policy (${policies.names().join(', ')})`, 'default-policy');
  for (const p of policies.list()) {
    const why = p.unavailableReason();
    log.info({ policy: p.name, available: why === null, ...(why ? { reason: why } : {}) }, 'policy');
  }
  let arms;
  try {
    arms = loadArmsFromEnv(process.env, policies.names());
  } catch (err) {
    throw new ConfigError((err as Error).message, 'arms');
  }
  if (arms) log.info({ arms: arms.arms.map((a) => ({ name: a.name, policy: a.policy, weight: a.weight })) }, 'policy A/B arms');

  let profile: DenseProfile | null = null;
  const batches = [...new Set([...config.profileBatches.filter((b) => b <= config.maxBatch), ...(config.profileBatches.length ? [config.maxBatch] : [])])];
  if (batches.length) {
    const tp = performance.now();
    profile = await measureDenseProfile(runner, batches);
    log.info({ batches: profile.batches, contexts: profile.contexts, ms: profile.ms.map((r) => r.map((x) => Math.round(x * 100) / 100)), profileMs: Math.round(performance.now() - tp) }, 'dense step profile (speedup baseline)');
  }

  const metrics = createMetrics();
  const engine = new Engine({
    runner,
    tokenizer,
    policies,
    metrics,
    sampler: samplerFactory,
    planCost: (plan: SkipPlan) => planCost(plan, info).removedFraction,
    validatePlan: (plan, param) => {
      try {
        return validatePlan(plan, info);
      } catch (err) {
        if (err instanceof PlanError) throw new InvalidRequestError(`${param}: ${err.message}`, param);
        throw err;
      }
    },
    profile,
    maxBatch: config.maxBatch,
    maxQueue: config.maxQueue,
    prefillChunk: config.prefillChunk,
    onError: (err) => log.error({ err }, 'engine step failed'),
  });

  let ready = false;
  const ctx: ApiContext = {
    info,
    config,
    engine,
    tokenizer,
    chatTemplate,
    policies,
    metrics,
    startedAt: Math.floor(Date.now() / 1000),
    isReady: () => ready,
    assignPolicy(key): PolicyAssignment {
      // The A/B hook: without arms every request without skip.policy gets the server default.
      if (!arms) return { policy: config.defaultPolicy, options: {} };
      const arm = assignArm(arms, key);
      return { policy: arm.policy, arm: arm.name, options: arm.options };
    },
  };

  const app = createHttpApp(ctx);
  const http: ServerType = await new Promise((res) => {
    const s = serve({ fetch: app.fetch, port: config.httpPort, hostname: config.host }, () => res(s));
  });
  const httpPort = (http.address() as AddressInfo).port;
  let grpc: GrpcServerHandle | null = null;
  if (config.grpcPort >= 0) grpc = await startGrpcServer(ctx, config.host, config.grpcPort);
  ready = true;
  grpc?.notifyHealth();
  log.info({ http: `http://${config.host}:${httpPort}`, grpc: grpc ? `${config.host}:${grpc.port}` : 'disabled', maxBatch: config.maxBatch, maxQueue: config.maxQueue, defaultPolicy: config.defaultPolicy, auth: Boolean(config.apiKey) }, 'skipserve listening');

  let closed = false;
  const shutdown = async (timeoutMs: number) => {
    if (closed) return;
    closed = true;
    ready = false;
    grpc?.notifyHealth();
    await engine.drain(timeoutMs);
    await grpc?.close();
    await new Promise<void>((res) => {
      http.close(() => res());
      (http as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
    await runner.close();
  };
  return {
    ctx,
    httpPort,
    grpcPort: grpc?.port ?? -1,
    profile,
    drain: (timeoutMs = config.drainTimeout * 1000) => {
      log.info({ timeoutMs }, 'draining: not ready, finishing in-flight requests');
      return shutdown(timeoutMs);
    },
    close: () => shutdown(0),
  };
}
