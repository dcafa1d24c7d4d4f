/**
 * Warm-up of skip-core graphs: the cores that requests with default options will share (the
 * latency-budget policy's core at each batch-size bucket; `learned` fast mode uses the same one) get
 * their graphs built before the first request, so no request waits for a build and the speedup
 * reported from the first request on is the steady one (graph-sessions.ts builds other cores after
 * a few steps of use).
 */
import type { ModelRunner, SkipCore } from '../model/runner-types.ts';
import { profileBatches } from '../plans/latency-profile.ts';
import { coreKey, planCore, type SkipPlan } from '../plans/plan.ts';
import type { PolicyRegistry } from '../plans/policies/registry.ts';

/** True when the plan skips a whole sublayer (head masks alone are no core). */
function skipsSublayers(plan: SkipPlan | null): plan is SkipPlan {
  return plan !== null && (plan.skipAttention.length > 0 || plan.skipMlp.length > 0);
}

/** The first available policy's shared core for n candidates at `target` (default: the server's), as a plan skipping only its sublayers; null when none skips a sublayer. */
async function firstSharedCore(policies: PolicyRegistry, n: number, target: number | undefined): Promise<SkipPlan | null> {
  for (const p of policies.list()) {
    if (!p.sharedCore || p.unavailableReason()) continue;
    const plan = await p.sharedCore(n, target);
    if (skipsSublayers(plan)) return { skipAttention: plan.skipAttention, skipMlp: plan.skipMlp, maskHeads: {} };
  }
  return null;
}

/**
 * Each batch size in `batches` with the core requests of that size share by default (null: none),
 * then, one entry each, the other cores of `targets` at that size (--warm-targets), for the
 * start-up warm-up (Engine.warmUp).
 */
export async function defaultCoresByBatch(policies: PolicyRegistry, batches: readonly number[], targets: readonly number[] = []): Promise<{ batch: number; core: SkipPlan | null }[]> {
  const out: { batch: number; core: SkipPlan | null }[] = [];
  for (const n of batches) {
    const byDefault = await firstSharedCore(policies, n, undefined);
    out.push({ batch: n, core: byDefault });
    const seen = new Set(byDefault ? [coreKey(byDefault)] : []);
    for (const target of targets) {
      const core = await firstSharedCore(policies, n, target);
      if (core && !seen.has(coreKey(core))) out.push({ batch: n, core });
      if (core) seen.add(coreKey(core));
    }
  }
  return out;
}

/**
 * The distinct cores the registry's policies share at the batch-size buckets of `maxBatch`: at the
 * default target, then at each of `targets` (--warm-targets), in that order.
 */
export async function defaultCores(policies: PolicyRegistry, maxBatch?: number, targets: readonly number[] = []): Promise<SkipCore[]> {
  const seen = new Map<string, SkipCore>();
  for (const target of [undefined, ...targets]) {
    for (const p of policies.list()) {
      if (!p.sharedCore || p.unavailableReason()) continue;
      for (const n of profileBatches(maxBatch)) {
        const core = planCore(await p.sharedCore(n, target));
        if (core) seen.set(JSON.stringify(core), core);
      }
    }
  }
  return [...seen.values()];
}

/** Builds the graphs of the default cores (and of the cores of `targets`) in the runner; returns the cores and how many are ready. */
export async function prepareDefaultCores(policies: PolicyRegistry, runner: ModelRunner, maxBatch?: number, targets: readonly number[] = []): Promise<{ cores: SkipCore[]; ready: number }> {
  if (!runner.prepareCores) return { cores: [], ready: 0 };
  const cores = await defaultCores(policies, maxBatch, targets);
  let ready = 0;
  // One core per call: each build is one answer from the worker, as the stall watchdog expects.
  for (const core of cores) ready += await runner.prepareCores([core]);
  return { cores, ready };
}
