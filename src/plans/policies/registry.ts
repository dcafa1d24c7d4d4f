/**
 * The policy registry: a static list of every policy the server knows. The engine looks policies
 * up by name and calls `choose`; it never imports a policy. The router-backed policies share one
 * load of the model directory's router artifacts (calibration, catalog, selector, latency profile).
 * A policy that fails to build stops startup with its error, unless it is listed as optional:
 * then it is registered as unavailable, with the error as the reason.
 */
import type { ModelInfo } from '../../model/model-info.ts';
import type { ModelRunner, SamplingRunner } from '../../model/runner-types.ts';
import { checkCore, runtimeMeasure, type CoreSearch } from '../../router/core-check.ts';
import { CORE_CONTEXT, latencyTableFor, loadRouterResources, type RouterResources } from '../../router/resources.ts';
import { predictedSpeedup } from '../../router/skip-core-search.ts';
import { loadOrMeasureProfile, profileBatches, profileCachePath, profileShape, writeCachedProfile, type LatencyProfile } from '../latency-profile.ts';
import { createExpertProfilePolicy } from './expert-profile.ts';
import { createEnsemblePolicy } from './ensemble.ts';
import { explicitPolicy } from './explicit.ts';
import { createHeadImportancePolicy } from './head-importance.ts';
import { chooseLatencyBudgetCore, createLatencyBudgetPolicy } from './latency-budget.ts';
import { createLearnedPolicy } from './learned.ts';
import { nonePolicy } from './none.ts';
import type { SkipPolicy } from './policy.ts';
import { randomHeadsPolicy } from './random-heads.ts';
import { subNetworksPolicy } from './sub-networks.ts';

/** What the policies are built from. */
export interface PolicyDeps {
  info: ModelInfo;
  /** Checkpoint directory (router/, selector.onnx). */
  modelDir: string;
  /** Where the router files (router/, selector.onnx) are read, when not in modelDir (a selector version's folder). */
  routerDir?: string;
  /** A latency profile already measured for this model and machine (a selector reload reuses the running one). */
  profile?: LatencyProfile | null;
  /** The running model, to measure the latency profile when no cached one fits this machine. */
  runner?: ModelRunner;
  /** The most rows the runner takes in one step (a profile measured at startup stays within it). */
  maxBatch?: number;
  /** Server defaults: random-heads' / head-importance's k, latency-budget's target speedup. */
  defaults: { k: number; targetSpeedup: number; coreShareTolerance?: number };
  /** Where latency profiles are cached (null: in memory only; the model directory is only read). */
  profileCacheDir?: string | null;
  /** Time the default skip core against the dense step when the profile has no check (default true; router/core-check.ts). */
  checkCores?: boolean;
}

type Build = (deps: PolicyDeps, router: () => Promise<RouterResources>) => SkipPolicy | Promise<SkipPolicy>;

/** Every policy, in the order /v1/models lists them. */
export const POLICIES: readonly { name: string; build: Build }[] = [
  { name: 'none', build: () => nonePolicy() },
  { name: 'explicit', build: () => explicitPolicy() },
  { name: 'random-heads', build: (d) => randomHeadsPolicy(d.defaults.k) },
  { name: 'sub-networks', build: (_d, router) => subNetworksPolicy(router) },
  { name: 'head-importance', build: async (d, router) => createHeadImportancePolicy(await router(), Math.max(1, d.defaults.k)) },
  { name: 'latency-budget', build: async (_d, router) => createLatencyBudgetPolicy(await router()) },
  { name: 'expert-profile', build: async (_d, router) => createExpertProfilePolicy(await router()) },
  { name: 'learned', build: async (_d, router) => createLearnedPolicy(await router()) },
  { name: 'ensemble', build: async (_d, router) => createEnsemblePolicy(await router()) },
];

export class PolicyRegistry {
  private readonly policies = new Map<string, SkipPolicy>();
  /** The latency profile the router policies use (null when none was needed). */
  profile: LatencyProfile | null = null;

  /** Adds a policy; a second policy with the same name is a startup error. */
  register(policy: SkipPolicy): void {
    if (this.policies.has(policy.name)) throw new Error(`policy '${policy.name}' is registered twice`);
    this.policies.set(policy.name, policy);
  }

  get(name: string): SkipPolicy | undefined {
    return this.policies.get(name);
  }

  names(): string[] {
    return [...this.policies.keys()];
  }

  list(): SkipPolicy[] {
    return [...this.policies.values()];
  }
}

/** A policy that exists but could not be built (optional policies only). */
function unavailablePolicy(name: string, reason: string): SkipPolicy {
  return {
    name,
    description: `unavailable: ${reason}`,
    unavailableReason: () => reason,
    choose: () => Promise.reject(new Error(`policy '${name}' is unavailable: ${reason}`)),
  };
}

/** Loads the router artifacts once; with a runner and a calibration, the latency profile too. */
async function loadRouter(deps: PolicyDeps): Promise<RouterResources> {
  const routerDir = deps.routerDir ?? deps.modelDir;
  const r = await loadRouterResources(deps.info, routerDir, { defaultTargetSpeedup: deps.defaults.targetSpeedup, coreShareTolerance: deps.defaults.coreShareTolerance });
  r.coreGraphs = !!deps.runner && 'runtime' in deps.runner && (deps.runner as SamplingRunner).runtime.coreGraphs > 0;
  if (deps.profile) r.profile = deps.profile;
  else if (r.calibration && deps.runner) {
    const readDirs = routerDir === deps.modelDir ? [deps.modelDir] : [routerDir, deps.modelDir];
    // Step times depend on the runner's threads: they are part of the profile's machine key.
    const threads = 'runtime' in deps.runner ? (deps.runner as SamplingRunner).runtime.threads : undefined;
    r.profile = (await loadOrMeasureProfile(deps.runner, { cacheDir: deps.profileCacheDir ?? null, readDirs, batches: profileBatches(deps.maxBatch), threads })).profile;
    if (deps.checkCores !== false) await checkDefaultCores(r, deps.runner, deps.maxBatch, deps.profileCacheDir ?? null);
  }
  return r;
}

/**
 * The core check (router/core-check.ts) at each batch-size bucket the profile has no check for:
 * the default target's core timed against the dense step, its sublayer times scaled until the
 * measured ratio reaches the target. The checks join the profile (and its cache, when there is one).
 */
async function checkDefaultCores(r: RouterResources, runner: ModelRunner, maxBatch: number | undefined, cacheDir: string | null): Promise<void> {
  const profile = r.profile;
  if (!profile || !r.coreGraphs || !runner.prepareCores) return;
  const target = r.defaultTargetSpeedup;
  const batches = [...new Set(profileBatches(maxBatch).map((n) => profileShape(profile, n, CORE_CONTEXT).batch))];
  const todo = batches.filter((b) => !profile.coreChecks?.some((c) => c.batch === b && c.target === target));
  if (todo.length === 0) return;
  const search: CoreSearch = async (batch, t, scale) => {
    const { result } = await chooseLatencyBudgetCore(r, batch, t, scale);
    return { core: result.core, predictedSpeedup: result.predictedSpeedup, unscaledSpeedup: predictedSpeedup(latencyTableFor(r, batch, 1)!, result.core) };
  };
  const checks = [...(profile.coreChecks ?? []).filter((c) => !todo.includes(c.batch))];
  for (const batch of todo) {
    const check = await checkCore(search, runtimeMeasure(runner, batch, CORE_CONTEXT), batch, target, CORE_CONTEXT);
    if (check) checks.push(check);
  }
  r.profile = { ...profile, coreChecks: checks.sort((a, b) => a.batch - b.batch) };
  if (cacheDir) writeCachedProfile(profileCachePath(cacheDir), r.profile);
}

/**
 * Builds every policy of {@link POLICIES}. A build error names the policy and stops here, unless the
 * policy is in `optional` (then `onOptionalFailure` hears about it and the policy is unavailable).
 */
export async function createPolicyRegistry(
  deps: PolicyDeps,
  opts: { optional?: readonly string[]; onOptionalFailure?: (name: string, err: unknown) => void } = {},
): Promise<PolicyRegistry> {
  let router: Promise<RouterResources> | null = null;
  const shared = () => (router ??= loadRouter(deps));
  const reg = new PolicyRegistry();
  for (const { name, build } of POLICIES) {
    try {
      reg.register(await build(deps, shared));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (!opts.optional?.includes(name)) throw new Error(`policy '${name}' failed to load: ${message}`);
      opts.onOptionalFailure?.(name, err);
      reg.register(unavailablePolicy(name, message));
    }
  }
  if (router) reg.profile = (await (router as Promise<RouterResources>).catch(() => null))?.profile ?? null;
  return reg;
}
