/**
 * One model served in this process: the runner (its worker thread), tokenizer, chat template,
 * policies, request stats and the engine, wired together. The server, `skipserve generate`,
 * `eval` and the router tools all open the model this way, so what they measure is what the
 * server does: the same request gives the same candidates, answers and vote everywhere. Given a
 * store, every completed request is recorded (never blocking) under its completion id, with the
 * model and selector versions that served it: the server and the offline tools record alike.
 */
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { createMetrics, type Metrics } from '../metrics/metrics.ts';
import { outcomeOf } from '../metrics/outcomes.ts';
import type { ModelInfo } from '../model/model-info.ts';
import type { LoadOptions } from '../model/load-options.ts';
import { loadRunner } from '../model/runner.ts';
import type { ModelRunner, SkipCore } from '../model/runner-types.ts';
import { armTargets, assignArm, type ArmsConfig } from '../plans/arms.ts';
import { createPolicyRegistry, type PolicyDeps, type PolicyRegistry } from '../plans/policies/registry.ts';
import type { RequestStore } from '../store/types.ts';
import { loadChatTemplate, type ChatTemplate } from '../text/chat-template.ts';
import { TextTokenizer } from '../text/tokenizer.ts';
import { directoryVersions, type ServedVersion, type ServedVersions } from '../versions/served-versions.ts';
import { newCompletionId } from './completion-id.ts';
import { Engine, type EngineLog, type RequestHandle } from './engine.ts';
import { defaultCoresByBatch, prepareDefaultCores } from './prepare-cores.ts';
import { prefixCacheTokens } from './prefix-cache.ts';
import { resolveSpeculative } from './speculative-config.ts';
import type { SpeculativeConfig } from '../model/runner-types.ts';
import { planCore } from '../plans/plan.ts';
import { draftOnCore } from './speculation.ts';
import { prepareRequest, type RequestServices } from './prepare-request.ts';
import { RequestStats } from './request-stats.ts';
import { GuideChecker } from './guide-checker.ts';
import { toolModeOf } from './tool-calls.ts';
import { parseToolCalls } from './tool-parsers.ts';
import { servedRecord } from './served-record.ts';
import type { GenerationResult, RequestSpec } from './types.ts';

export interface LocalEngineOptions {
  modelDir: string;
  /** Model id the API reports (default: the directory's name). */
  modelId?: string;
  /** Other names requests may give the model by. */
  aliases?: readonly string[];
  /** Where the router files (router/, selector.onnx) are read (default: modelDir). */
  routerDir?: string;
  /** The versions served (default: content hashes of the directories, named after the model id). */
  versions?: ServedVersions;
  /** Where completed requests are recorded (none: nothing is recorded). */
  store?: RequestStore | null;
  /** The metrics to report into (default: a new registry); a server shares one across reloads. */
  metrics?: Metrics;
  threads?: number;
  spin?: LoadOptions['spin'];
  densePath?: LoadOptions['densePath'];
  coreGraphs?: LoadOptions['coreGraphs'];
  /** Build the graphs of the default skip cores before serving (prepare-cores.ts; default true). */
  prepareCores?: boolean;
  /** More targets whose latency-budget cores are built too (besides the default target). */
  warmTargets?: readonly number[];
  /** Weight format (int8: weight-only quantization at load). */
  weights?: LoadOptions['weights'];
  /** Milliseconds without an answer from the model worker before it counts as hung (0 / unset: never). */
  stallMs?: LoadOptions['stallMs'];
  maxBatch: number;
  /** Longest sequence a request may reach (vLLM's --max-model-len; default and at most: the model's context). */
  maxModelLen?: number;
  maxQueue?: number;
  prefillChunk?: number;
  /** MiB of prompt keys and values kept for later prompts that start alike (prefix-cache.ts; default 256, 0: off). */
  prefixCacheMb?: number;
  /** --speculative-config: off, auto (the model directory's speculative.json, the default) or its JSON (default: $SKIPSERVE_SPECULATIVE_CONFIG, else auto). */
  speculativeConfig?: string;
  /**
   * Apply the speculative config's disable_by_batch_size (the server does). Off by default: the
   * offline tools submit hundreds of requests at once, and which of them found room under the limit
   * would depend on arrival order, so their seeded samples would not reproduce run to run.
   */
  speculationLoadLimit?: boolean;
  defaultMaxTokens?: number;
  /** auto (default): the model's generation_config.json fills the sampling fields a request leaves out; none: OpenAI's defaults. */
  generationConfig?: 'auto' | 'none';
  defaultPolicy?: string;
  defaults?: { k?: number; targetSpeedup?: number; coreShareTolerance?: number };
  optionalPolicies?: readonly string[];
  /** Writable directory for latency profiles (null: memory only). */
  profileCacheDir?: string | null;
  arms?: ArmsConfig | null;
  measureSpeedup?: boolean;
  /** Warm-up before the first request (Engine.warmUp at WARMUP_BATCHES; default true). */
  warmup?: boolean;
  log?: EngineLog & {
    warn(obj: object, msg: string): void;
    /** One line per submitted request once it ends (the server's request log; absent: none). */
    request?(obj: object, msg: string): void;
  };
}

/** A submitted request with its completion id and the versions serving it. */
export interface ServedHandle extends RequestHandle {
  id: string;
  versions: ServedVersions;
}

/** The model, its text tools, its policies and the engine, in this process. */
export interface LocalEngine extends RequestServices {
  runner: ModelRunner;
  engine: Engine;
  metrics: Metrics;
  defaultPolicy: string;
  /** The model and selector versions new requests are served with. */
  readonly versions: ServedVersions;
  /** The default skip cores whose graphs were built at startup (prepare-cores.ts), and how many are ready. */
  readonly preparedCores: { cores: SkipCore[]; ready: number };
  /** Speculative decoding (--speculative-config; which requests: engine/speculation.ts); null when off. */
  readonly speculative: SpeculativeConfig | null;
  /** What the start-up warm-up ran (batch sizes, steps, ms); null when it was off. */
  readonly warmup: { batches: number[]; steps: number; ms: number } | null;
  /** Where the model and the router files were loaded from. */
  readonly modelDir: string;
  readonly routerDir: string;
  /** Checks a request spec, gives it a completion id and submits it (what every transport and tool does). */
  submit(spec: RequestSpec): Promise<ServedHandle>;
  /** submit + wait for the result (with its completion id). */
  generate(spec: RequestSpec): Promise<GenerationResult & { id: string }>;
  /**
   * Serves another selector (router files in `routerDir`) from the next request on; requests already
   * submitted keep the policies they were given. Rejects, changing nothing, when it does not load.
   */
  swapSelector(routerDir: string, selector: ServedVersion | null): Promise<void>;
  /** Lets in-flight requests finish for up to `drainMs` (then cancels them), and closes the runner. */
  close(drainMs?: number): Promise<void>;
}

/** What the request log says of a finished request. */
function requestLogLine(id: string, r: GenerationResult): object {
  const finish: Record<string, number> = {};
  for (const c of r.candidates) finish[c.finishReason] = (finish[c.finishReason] ?? 0) + 1;
  const ms = (x: number | null) => (x === null ? null : Math.round(x));
  return {
    id,
    policy: r.policy,
    ...(r.arm ? { arm: r.arm } : {}),
    n: r.candidates.length,
    promptTokens: r.promptTokens,
    cachedTokens: r.cachedTokens,
    completionTokens: r.completionTokens,
    finish,
    queueMs: ms(r.timings.queueMs),
    firstTokenMs: ms(r.timings.firstTokenMs),
    totalMs: ms(r.timings.totalMs),
    ...(r.speedup !== null ? { speedup: Math.round(r.speedup * 1000) / 1000 } : {}),
  };
}

/** Batch sizes warmed up at start (with maxBatch): the sizes best-of-N requests most often decode at. */
const WARMUP_BATCHES = [1, 2, 4, 8];

/** A speculative config that speculates at every load (the offline tools': speculationLoadLimit). */
function withoutLoadLimit({ disableByBatchSize: _, ...config }: SpeculativeConfig): SpeculativeConfig {
  return config;
}

/** The context requests are held to: --max-model-len, which may not exceed the model's own. */
function servedContext(model: number, maxModelLen: number | undefined): number {
  if (maxModelLen === undefined) return model;
  if (maxModelLen > model) throw new ConfigError(`--max-model-len ${maxModelLen} is longer than the model's context of ${model} tokens`, 'max-model-len');
  return maxModelLen;
}

/** Loads the model into its worker and builds everything around it; errors say what to fix. */
export async function openLocalEngine(o: LocalEngineOptions): Promise<LocalEngine> {
  const modelDir = resolve(o.modelDir);
  if (!existsSync(modelDir)) throw new ConfigError(`model directory ${modelDir} does not exist (set --model)`, 'model');
  const routerDir = resolve(o.routerDir ?? modelDir);
  let currentRouterDir = routerDir;
  const runner = await loadRunner({ modelDir, threads: o.threads, maxBatch: o.maxBatch, spin: o.spin, weights: o.weights, densePath: o.densePath, coreGraphs: o.coreGraphs, stallMs: o.stallMs });
  try {
    const info: ModelInfo = { ...runner.info, id: o.modelId ?? runner.info.id ?? basename(modelDir), ...(o.aliases?.length ? { aliases: o.aliases } : {}), maxPositions: servedContext(runner.info.maxPositions, o.maxModelLen) };
    let versions = o.versions ?? (await directoryVersions(modelDir, routerDir, info.id));
    const tokenizer = TextTokenizer.load(modelDir);
    const chatTemplate: ChatTemplate | null = loadChatTemplate(modelDir);
    const defaultPolicy = o.defaultPolicy ?? 'none';
    const arms = o.arms ?? null;
    const deps: PolicyDeps = { info, modelDir, routerDir, runner, maxBatch: o.maxBatch, defaults: { k: o.defaults?.k ?? 2, targetSpeedup: o.defaults?.targetSpeedup ?? 1.25, coreShareTolerance: o.defaults?.coreShareTolerance ?? 0.25 }, profileCacheDir: o.profileCacheDir ?? null };
    /** Builds the policies over router files and checks the default policy and the arms name known ones. */
    const buildPolicies = async (d: PolicyDeps): Promise<PolicyRegistry> => {
      const reg = await createPolicyRegistry(d, { optional: o.optionalPolicies, onOptionalFailure: (name, err) => o.log?.warn({ policy: name, err: (err as Error).message }, 'optional policy failed to load') });
      if (!reg.get(defaultPolicy)) throw new ConfigError(`default policy '${defaultPolicy}' is not a known policy (${reg.names().join(', ')})`, 'default-policy');
      for (const [i, a] of (arms?.arms ?? []).entries()) {
        if (!reg.get(a.policy)) throw new ConfigError(`arms.${i}.policy '${a.policy}' is not one of: ${reg.names().join(', ')}`, 'arms');
      }
      return reg;
    };
    let policies = await buildPolicies(deps);
    // Cores of the targets the arms send requests with are built ahead too, like --warm-targets.
    const warmTargets = [...new Set([...(o.warmTargets ?? []), ...armTargets(arms)])];
    const preparedCores = o.prepareCores === false ? { cores: [], ready: 0 } : await prepareDefaultCores(policies, runner, o.maxBatch, warmTargets);
    // The offline tools (eval, router, APT) take the server's environment variable too.
    const resolved = resolveSpeculative(o.speculativeConfig ?? process.env.SKIPSERVE_SPECULATIVE_CONFIG ?? 'auto', modelDir, info);
    const speculative = resolved && !o.speculationLoadLimit ? withoutLoadLimit(resolved) : resolved;
    // The draft runs every few milliseconds: its graph is built before the first request needs it,
    // and so is its graph on top of each prepared core (where the core skips more than the draft).
    if (speculative && o.prepareCores !== false && runner.prepareCores) {
      const drafts = [speculative.draft, ...preparedCores.cores.map((c) => draftOnCore(speculative.draft, { skipAttention: c.attention, skipMlp: c.mlp, maskHeads: {} }))].map((d) => planCore(d)!);
      await runner.prepareCores([...new Map(drafts.map((c) => [JSON.stringify(c), c])).values()]);
    }
    const metrics = o.metrics ?? createMetrics();
    const engine = new Engine({
      runner,
      tokenizer,
      stats: new RequestStats(metrics),
      maxBatch: o.maxBatch,
      maxQueue: o.maxQueue ?? 64,
      prefillChunk: o.prefillChunk,
      prefixCacheTokens: prefixCacheTokens(info, o.prefixCacheMb ?? 256),
      ...(speculative ? { speculative } : {}),
      measureSpeedup: o.measureSpeedup,
      log: o.log,
    });
    let warmup: LocalEngine['warmup'] = null;
    if (o.warmup !== false) {
      const batches = WARMUP_BATCHES.filter((b) => b <= o.maxBatch);
      if (!batches.includes(o.maxBatch)) batches.push(o.maxBatch);
      try {
        const w = await engine.warmUp(await defaultCoresByBatch(policies, batches, warmTargets));
        warmup = { batches, steps: w.steps, ms: Math.round(w.ms) };
      } catch (err) {
        // An optimisation only: the server serves without it (the first requests pay the probes).
        o.log?.warn({ err: (err as Error).message }, 'warm-up failed');
      }
    }
    const services: RequestServices = {
      info,
      tokenizer,
      chatTemplate,
      get policies() {
        return policies;
      },
      limits: {
        maxBatch: o.maxBatch,
        defaultMaxTokens: o.defaultMaxTokens ?? 256,
        ...(o.generationConfig !== 'none' && info.samplingDefaults ? { samplingDefaults: info.samplingDefaults } : {}),
      },
      assignPolicy(key) {
        // The A/B hook: without arms every request without a policy gets the default.
        if (!arms) return { policy: defaultPolicy, options: {} };
        const arm = assignArm(arms, key);
        return { policy: arm.policy, arm: arm.name, options: arm.options };
      },
    };
    const store = o.store && o.store.engine !== 'off' ? o.store : null;
    // Schemas, grammars and tool choices become patterns off the event loop.
    const guides = new GuideChecker();
    const submit = async (spec: RequestSpec): Promise<ServedHandle> => {
      const createdAt = Date.now();
      const served = versions;
      const req = prepareRequest(services, spec, await guides.check(spec));
      const id = newCompletionId(spec.prompt, spec.api);
      const handle = await engine.submit(req);
      // Recorded before anyone reading the result sees it, so a lookup right after the answer finds it.
      const result = store && !spec.unrecorded ? handle.result.then((r) => (store.record(servedRecord(id, createdAt, req, r, served, spec.keepResponse)), r)) : handle.result;
      const logLine = o.log?.request;
      const auto = toolModeOf(spec);
      if (auto?.kind === 'auto') {
        result.then((r) => {
          for (const c of r.candidates) metrics.toolCallParses.inc({ parser: auto.parser, outcome: parseToolCalls(auto.parser, c.text, auto.names).calls.length ? 'calls' : 'text' });
        }, () => {});
      }
      if (logLine) result.then((r) => logLine(requestLogLine(id, r), 'request done'), (err) => logLine({ id, policy: req.policy.name, outcome: outcomeOf(err), err: (err as Error).message }, 'request failed'));
      result.catch(() => {});
      return { ...handle, result, id, versions: served };
    };
    let closing: Promise<void> | undefined;
    return {
      info,
      tokenizer,
      chatTemplate,
      get policies() {
        return policies;
      },
      limits: services.limits,
      assignPolicy: services.assignPolicy,
      runner,
      engine,
      metrics,
      defaultPolicy,
      get versions() {
        return versions;
      },
      modelDir,
      preparedCores,
      speculative,
      warmup,
      get routerDir() {
        return currentRouterDir;
      },
      submit,
      generate: async (spec) => {
        const h = await submit(spec);
        return { ...(await h.result), id: h.id };
      },
      async swapSelector(dir, selector) {
        const next = await buildPolicies({ ...deps, routerDir: resolve(dir), profile: policies.profile });
        policies = next;
        currentRouterDir = resolve(dir);
        versions = { model: versions.model, selector };
      },
      close(drainMs = 0) {
        closing ??= (async () => {
          await engine.drain(drainMs);
          await guides.close();
          await runner.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    await runner.close();
    throw err;
  }
}
