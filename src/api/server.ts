/**
 * Boots the whole server from a config: opens the request store, resolves which model and selector
 * versions to serve (promoted in the store, else the `--model` directory), opens the model in this
 * process (engine/local-engine.ts) behind a swappable slot, then starts the HTTP and gRPC front
 * ends and, when following versions, the store's promotion watch. `drain` implements graceful
 * shutdown: readiness turns false, new requests are refused, in-flight ones finish, then the
 * engines, the front ends and the store (its queued records written) close.
 */
import { planToWire } from '../plans/plan.ts';
import { BackgroundResponses } from './background-responses.ts';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { basename, resolve } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import pino, { type Logger } from 'pino';
import type { ServerConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { openLocalEngine, type LocalEngine } from '../engine/local-engine.ts';
import { ModelSlot } from '../engine/model-slot.ts';
import { createMetrics } from '../metrics/metrics.ts';
import { loadArms } from '../plans/arms.ts';
import type { RequestStore } from '../store/types.ts';
import { describeVersions, showServing, startupTarget, VersionReloader } from '../versions/reloader.ts';
import type { ServingTarget } from '../versions/serving-target.ts';
import { ensureCacheDir } from '../versions/version-cache.ts';
import { ApiKeys } from './auth/keys.ts';
import type { ApiContext } from './context.ts';
import { createHttpApp } from './http/app.ts';
import { startGrpcServer, type GrpcServerHandle } from './grpc/server.ts';
import { ModelWatch } from './model-watch.ts';
import { openServerStore } from './server-store.ts';
import { samplingDefaultsToWire } from '../model/sampling-defaults.ts';

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

/** The first engine, and how every later one is opened (same settings, metrics and store; another target). */
async function openFirstEngine(config: ServerConfig, store: RequestStore, metrics: ReturnType<typeof createMetrics>, log: Logger) {
  const arms = armsOf(config);
  const modelDir = resolve(config.model);
  if (!existsSync(modelDir)) throw new ConfigError(`model directory ${modelDir} does not exist (set --model)`, 'model');
  if (config.servedModelName && config.modelId) throw new ConfigError('set one of --served-model-name and --model-id (the first served name is the model id)', 'served-model-name');
  const base = { dir: modelDir, name: config.servedModelName?.[0] ?? config.modelId ?? basename(modelDir) };
  if (store.engine !== 'off') {
    try {
      ensureCacheDir(config.versionCacheDir);
    } catch (err) {
      throw new ConfigError((err as Error).message, 'version-cache-dir');
    }
  }
  const open = (t: ServingTarget): Promise<LocalEngine> =>
    openLocalEngine({
      modelDir: t.model.dir,
      routerDir: t.routerDir,
      modelId: base.name,
      aliases: config.servedModelName?.slice(1) ?? [],
      versions: { model: t.model.version, selector: t.selector },
      store,
      metrics,
      threads: config.threads || undefined,
      spin: config.ortSpin,
      densePath: config.densePath,
      coreGraphs: config.coreGraphs,
      warmup: config.warmup,
      warmTargets: config.warmTargets,
      weights: config.weights,
      stallMs: config.stallTimeout * 1000,
      maxBatch: config.maxBatch,
      ...(config.maxModelLen !== undefined ? { maxModelLen: config.maxModelLen } : {}),
      maxQueue: config.maxQueue,
      prefillChunk: config.prefillChunk,
      prefixCacheMb: config.prefixCacheMb,
      speculativeConfig: config.speculativeConfig,
      speculationLoadLimit: true,
      defaultMaxTokens: config.defaultMaxTokens,
      generationConfig: config.generationConfig,
      defaultPolicy: config.defaultPolicy,
      defaults: { k: config.defaultK, targetSpeedup: config.defaultTargetSpeedup, coreShareTolerance: config.coreShareTolerance },
      optionalPolicies: config.optionalPolicies,
      profileCacheDir: config.profileCacheDir ?? null,
      arms,
      log: {
        error: (obj, msg) => log.error(config.debug ? obj : { err: String((obj as { err?: unknown }).err) }, msg),
        warn: (obj, msg) => log.warn(obj, msg),
        ...(config.logRequests ? { request: (obj: object, msg: string) => log.info(obj, msg) } : {}),
        // Only at debug level: the engine then builds each request's window record for nothing else.
        ...(log.isLevelEnabled('debug') ? { debug: (obj: object, msg: string) => log.debug(obj, msg) } : {}),
      },
    });
  const { target, promoted } = await startupTarget(store, base, config.versionCacheDir, config.followVersions && store.engine !== 'off');
  return { model: await open(target), open, base, promoted, arms };
}

/** The API keys in force: --api-keys-file (rotated when the file changes) or --api-key; null when auth is off. */
function apiKeys(config: ServerConfig, log: Logger): ApiKeys | null {
  if (config.apiKeysFile && config.apiKey) throw new ConfigError('give --api-key or --api-keys-file, not both', 'api-keys-file');
  try {
    if (config.apiKeysFile) {
      const keys = ApiKeys.fromFile(config.apiKeysFile, { onReload: (n) => log.info({ keys: n }, 'API keys reloaded'), onError: (err) => log.error({ err: err.message }, 'API keys file unreadable; the previous keys stay in force') });
      log.info({ file: config.apiKeysFile, keys: keys.ids() }, 'API keys');
      return keys;
    }
  } catch (err) {
    throw new ConfigError((err as Error).message, 'api-keys-file');
  }
  return config.apiKey ? ApiKeys.fromKeys([config.apiKey]) : null;
}

/** Starts everything; throws ConfigError with what to fix when the model, the store or a setting is unusable. */
export async function startServer(config: ServerConfig, log: Logger = pino({ level: config.logLevel })): Promise<RunningServer> {
  const t0 = performance.now();
  const metrics = createMetrics();
  const { store, retention } = await openServerStore(config, metrics, log);
  let first: Awaited<ReturnType<typeof openFirstEngine>>;
  try {
    first = await openFirstEngine(config, store, metrics, log);
  } catch (err) {
    retention.stop();
    await store.close();
    throw err;
  }
  const { model, arms } = first;
  const info = model.info;
  log.info({ model: info.dir, id: info.id, architecture: info.architecture, layers: info.numLayers, heads: info.numHeads, hidden: info.hiddenSize, vocab: info.vocabSize, context: info.maxPositions, chatTemplate: model.chatTemplate !== null, versions: describeVersions(model.versions), loadMs: Math.round(performance.now() - t0) }, 'model loaded');
  for (const p of model.policies.list()) {
    const why = p.unavailableReason();
    log.info({ policy: p.name, available: why === null, ...(why ? { reason: why } : {}) }, 'policy');
  }
  if (model.preparedCores.cores.length) log.info({ cores: model.preparedCores.cores, ready: model.preparedCores.ready }, 'default skip-core graphs built ahead');
  if (model.warmup) log.info(model.warmup, 'warm-up: dense and default-core steps run before the first request');
  if (model.speculative) log.info({ draft: planToWire(model.speculative.draft), numSpeculativeTokens: model.speculative.tokens, disableByBatchSize: model.speculative.disableByBatchSize ?? null }, 'speculative decoding: requests on the full model or a shared skip core (greedy or sampled) draft with this skip plan (on top of the core), unless they arrive beside more rows than disableByBatchSize');
  if (model.limits.samplingDefaults) log.info(samplingDefaultsToWire(model.limits.samplingDefaults), "sampling defaults from the model's generation_config.json, for the fields a request leaves out (--generation-config none: OpenAI's)");
  if (arms) log.info({ arms: arms.arms.map((a) => ({ name: a.name, policy: a.policy, weight: a.weight })) }, 'policy A/B arms');
  showServing(metrics, model.versions);

  const slot = new ModelSlot(model, config.drainTimeout * 1000);
  let grpc: GrpcServerHandle | null = null;
  const watch: ModelWatch = new ModelWatch({ slot, restart: (dead): Promise<boolean> => reloader.restart(dead), metrics, log, onChange: () => grpc?.notifyHealth() });
  watch.watch(model);
  const reloader: VersionReloader = new VersionReloader({ store, slot, base: first.base, cacheDir: config.versionCacheDir, open: async (t): Promise<LocalEngine> => watch.watch(await first.open(t)), metrics, log });
  let phase: 'loading' | 'ready' | 'draining' = 'loading';
  const keys = apiKeys(config, log);
  // Readiness stays false for 300 ms after the queue was last seen full, so a probe between two
  // engine steps does not flip it back while the server is still refusing.
  let fullUntil = 0;
  const queueFull = (): boolean => {
    const now = Date.now();
    if (slot.current().engine.queueFull()) fullUntil = now + 300;
    return now < fullUntil;
  };
  const ctx: ApiContext = {
    get model() {
      return slot.current();
    },
    metrics,
    store,
    reloader,
    config,
    keys,
    background: new BackgroundResponses((n) => metrics.backgroundResponses.set(n)),
    startedAt: Math.floor(Date.now() / 1000),
    notReadyReason: () => (phase !== 'ready' ? phase : (watch.notReadyReason() ?? (queueFull() ? 'queue full' : null))),
    unhealthyReason: () => watch.unhealthyReason(),
  };
  let http: ServerType | null = null;
  try {
    const app = createHttpApp(ctx);
    http = await new Promise<ServerType>((res, rej) => {
      const s = serve({ fetch: app.fetch, port: config.httpPort, hostname: config.host }, () => res(s));
      s.once('error', rej);
    });
    if (config.grpcPort >= 0) grpc = await startGrpcServer(ctx, config.host, config.grpcPort);
  } catch (err) {
    http?.close();
    await slot.close(0);
    retention.stop();
    await store.close();
    throw new ConfigError(`cannot listen on ${config.host}: ${(err as Error).message}`, 'http-port');
  }
  const httpPort = (http.address() as AddressInfo).port;
  if (config.followVersions && store.engine !== 'off') reloader.follow(first.promoted);
  phase = 'ready';
  grpc?.notifyHealth();
  log.info({ http: `http://${config.host}:${httpPort}`, grpc: grpc ? `${config.host}:${grpc.port}` : 'disabled', maxBatch: config.maxBatch, maxQueue: config.maxQueue, defaultPolicy: model.defaultPolicy, auth: keys !== null, store: store.engine, followVersions: config.followVersions }, 'skipserve listening');

  let closed = false;
  const shutdown = async (timeoutMs: number) => {
    if (closed) return;
    closed = true;
    phase = 'draining';
    grpc?.notifyHealth();
    await reloader.stop();
    await slot.close(timeoutMs);
    await grpc?.close();
    await new Promise<void>((res) => {
      http!.close(() => res());
      (http as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
    retention.stop();
    keys?.close();
    await store.close();
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
