/**
 * Boots the whole server from a config: opens the model in this process (runner worker, tokenizer,
 * chat template, policies, engine: engine/local-engine.ts), loads the A/B arms, then starts the
 * HTTP and gRPC front ends. `drain` implements graceful shutdown: readiness turns false, new
 * requests are refused, in-flight ones finish, then everything closes.
 */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import pino, { type Logger } from 'pino';
import type { ServerConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { openLocalEngine } from '../engine/local-engine.ts';
import { loadArms } from '../plans/arms.ts';
import type { ApiContext } from './context.ts';
import { createHttpApp } from './http/app.ts';
import { startGrpcServer, type GrpcServerHandle } from './grpc/server.ts';

export interface RunningServer {
  ctx: ApiContext;
  httpPort: number;
  /** -1 when gRPC is disabled. */
  grpcPort: number;
  /** Graceful shutdown: not ready, refuse new requests, finish in-flight ones (up to timeoutMs), close. */
  drain(timeoutMs?: number): Promise<void>;
  /** Immediate shutdown (tests). */
  close(): Promise<void>;
}

/** Reads the arms named by the config; a broken arms setting is a ConfigError naming it. */
function armsOf(config: ServerConfig) {
  try {
    return loadArms(config);
  } catch (err) {
    throw new ConfigError((err as Error).message, config.armsFile ? 'arms-file' : 'arms');
  }
}

/** Starts everything; throws ConfigError with what to fix when the model or a setting is unusable. */
export async function startServer(config: ServerConfig, log: Logger = pino({ level: config.logLevel })): Promise<RunningServer> {
  const t0 = performance.now();
  const arms = armsOf(config);
  const model = await openLocalEngine({
    modelDir: config.model,
    modelId: config.modelId,
    threads: config.threads || undefined,
    spin: config.ortSpin === 'on',
    maxBatch: config.maxBatch,
    maxQueue: config.maxQueue,
    prefillChunk: config.prefillChunk,
    defaultMaxTokens: config.defaultMaxTokens,
    defaultPolicy: config.defaultPolicy,
    defaults: { k: config.defaultK, targetSpeedup: config.defaultTargetSpeedup },
    optionalPolicies: config.optionalPolicies,
    profileCacheDir: config.profileCacheDir ?? null,
    arms,
    log: {
      error: (obj, msg) => log.error(config.debug ? obj : { err: String((obj as { err?: unknown }).err) }, msg),
      warn: (obj, msg) => log.warn(obj, msg),
    },
  });
  const info = model.info;
  log.info({ model: info.dir, id: info.id, architecture: info.architecture, layers: info.numLayers, heads: info.numHeads, hidden: info.hiddenSize, vocab: info.vocabSize, context: info.maxPositions, chatTemplate: model.chatTemplate !== null, loadMs: Math.round(performance.now() - t0) }, 'model loaded');
  for (const p of model.policies.list()) {
    const why = p.unavailableReason();
    log.info({ policy: p.name, available: why === null, ...(why ? { reason: why } : {}) }, 'policy');
  }
  if (arms) log.info({ arms: arms.arms.map((a) => ({ name: a.name, policy: a.policy, weight: a.weight })) }, 'policy A/B arms');

  let phase: 'loading' | 'ready' | 'draining' = 'loading';
  const ctx: ApiContext = {
    model,
    config,
    startedAt: Math.floor(Date.now() / 1000),
    notReadyReason: () => (phase !== 'ready' ? phase : model.engine.queueFull() ? 'queue full' : null),
  };
  let http: ServerType | null = null;
  let grpc: GrpcServerHandle | null = null;
  try {
    const app = createHttpApp(ctx);
    http = await new Promise<ServerType>((res, rej) => {
      const s = serve({ fetch: app.fetch, port: config.httpPort, hostname: config.host }, () => res(s));
      s.once('error', rej);
    });
    if (config.grpcPort >= 0) grpc = await startGrpcServer(ctx, config.host, config.grpcPort);
  } catch (err) {
    http?.close();
    await model.close();
    throw new ConfigError(`cannot listen on ${config.host}: ${(err as Error).message}`, 'http-port');
  }
  const httpPort = (http.address() as AddressInfo).port;
  phase = 'ready';
  grpc?.notifyHealth();
  log.info({ http: `http://${config.host}:${httpPort}`, grpc: grpc ? `${config.host}:${grpc.port}` : 'disabled', maxBatch: config.maxBatch, maxQueue: config.maxQueue, defaultPolicy: model.defaultPolicy, auth: Boolean(config.apiKey) }, 'skipserve listening');

  let closed = false;
  const shutdown = async (timeoutMs: number) => {
    if (closed) return;
    closed = true;
    phase = 'draining';
    grpc?.notifyHealth();
    await model.engine.drain(timeoutMs);
    await grpc?.close();
    await new Promise<void>((res) => {
      http!.close(() => res());
      (http as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
    await model.runner.close();
  };
  return {
    ctx,
    httpPort,
    grpcPort: grpc?.port ?? -1,
    drain: (timeoutMs = config.drainTimeout * 1000) => {
      log.info({ timeoutMs }, 'draining: not ready, finishing in-flight requests');
      return shutdown(timeoutMs);
    },
    close: () => shutdown(0),
  };
}
