/**
 * Warm-up of skip-core graphs: the cores that requests with default options will share (the
 * latency-budget policy's core at each batch-size bucket; `learned` fast mode uses the same one) get
 * their graphs built before the first request, so no request waits for a build and the speedup
 * reported from the first request on is the steady one (graph-sessions.ts builds other cores after
 * a few steps of use).
 */
import type { ModelRunner, SkipCore } from '../model/runner-types.ts';
import { profileBatches } from '../plans/latency-profile.ts';
import type { SkipPlan } from '../plans/plan.ts';
import type { PolicyRegistry } from '../plans/policies/registry.ts';

/** True when the plan skips a whole sublayer (head masks alone are no core). */
function skipsSublayers(plan: SkipPlan | null): plan is SkipPlan {
  return plan !== null && (plan.skipAttention.length > 0 || plan.skipMlp.length > 0);
}

/** A plan's sublayer skips as a core, sorted (null when it skips no sublayer). */
function asCore(plan: SkipPlan | null): SkipCore | null {
  if (!skipsSublayers(plan)) return null;
  return { attention: [...plan.skipAttention].sort((a, b) => a - b), mlp: [...plan.skipMlp].sort((a, b) => a - b) };
}

/**
 * Each batch size in `batches` with the core requests of that size share by default, as a plan
 * that skips only its sublayers (null: none), for the start-up warm-up (Engine.warmUp).
 */
export async function defaultCoresByBatch(policies: PolicyRegistry, batches: readonly number[]): Promise<{ batch: number; core: SkipPlan | null }[]> {
  const out: { batch: number; core: SkipPlan | null }[] = [];
  for (const n of batches) {
    let core: SkipPlan | null = null;
    for (const p of policies.list()) {
      if (core || !p.sharedCore || p.unavailableReason()) continue;
      const plan = await p.sharedCore(n);
      if (skipsSublayers(plan)) core = { skipAttention: plan.skipAttention, skipMlp: plan.skipMlp, maskHeads: {} };
    }
    out.push({ batch: n, core });
  }
  return out;
}

/** The distinct default cores of the registry's policies at the batch-size buckets of `maxBatch`. */
export async function defaultCores(policies: PolicyRegistry, maxBatch?: number): Promise<SkipCore[]> {
  const seen = new Map<string, SkipCore>();
  for (const p of policies.list()) {
    if (!p.sharedCore || p.unavailableReason()) continue;
    for (const n of profileBatches(maxBatch)) {
      const core = asCore(await p.sharedCore(n));
      if (core) seen.set(JSON.stringify(core), core);
    }
  }
  return [...seen.values()];
}

/** Builds the default cores' graphs in the runner; returns the cores and how many are ready. */
export async function prepareDefaultCores(policies: PolicyRegistry, runner: ModelRunner, maxBatch?: number): Promise<{ cores: SkipCore[]; ready: number }> {
  if (!runner.prepareCores) return { cores: [], ready: 0 };
  const cores = await defaultCores(policies, maxBatch);
  return { cores, ready: cores.length ? await runner.prepareCores(cores) : 0 };
}
