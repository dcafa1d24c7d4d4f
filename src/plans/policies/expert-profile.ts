/**
 * `expert-profile`: a pruning profile per domain (the customized-expert idea): the skip core that
 * reaches the target speedup with the least loss on that domain's calibration prompts, plus,
 * with `skip.k`, its k least important heads. The domain is `skip.domain`, or inferred from the
 * prompt's own embedding (nearest domain centroid by cosine similarity). Under mixed load it takes a
 * core already in flight instead of its own when that core reaches the target and costs at most
 * `--core-share-tolerance` more (measured accuracy where calibration has it; router/shared-core.ts).
 */
import type { DomainProfile } from '../../router/calibration.ts';
import { latencyTableFor, type RouterResources } from '../../router/resources.ts';
import { coreToPlan, sublayerKey } from '../../router/skip-core-search.ts';
import { domainCore, leastImportantHeads } from '../../router/calibrated-cores.ts';
import { InvalidRequestError } from '../../errors.ts';
import type { PolicyContext, PolicyResult, SkipPolicy } from './policy.ts';
import { MAX_TARGET_SPEEDUP } from './latency-budget.ts';
import { shareableCore, sharingCost } from '../../router/shared-core.ts';

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb + 1e-12);
}

/**
 * The domain whose centroid is nearest (cosine) to the embedding, both taken relative to the
 * mean of all calibration prompts: raw mean-pooled states share a large common component that
 * would make every centroid look alike.
 */
export function inferDomain(domains: Record<string, DomainProfile>, embedding: ArrayLike<number>): { domain: string; similarity: number } {
  const entries = Object.entries(domains).sort(([a], [b]) => a.localeCompare(b));
  const total = entries.reduce((s, [, d]) => s + d.prompts, 0);
  const mean = new Float64Array(embedding.length);
  for (const [, d] of entries) for (let i = 0; i < mean.length; i++) mean[i] += ((d.centroid[i] ?? 0) * d.prompts) / Math.max(total, 1);
  const centred = (x: ArrayLike<number>): Float64Array => Float64Array.from(mean, (m, i) => (x[i] ?? 0) - m);
  const e = centred(embedding);
  let best = { domain: '', similarity: -Infinity };
  for (const [name, d] of entries) {
    const s = cosine(e, centred(d.centroid));
    if (s > best.similarity) best = { domain: name, similarity: s };
  }
  if (!best.domain) throw new Error('calibration has no domains');
  return best;
}

/** Creates the policy over the loaded router resources. */
export function createExpertProfilePolicy(r: RouterResources): SkipPolicy {
  const domains = (): string[] => Object.keys(r.calibration?.domains ?? {}).sort();
  return {
    name: 'expert-profile',
    description: `per-domain pruning profile; skip.domain one of [${domains().join(', ')}] or inferred from the prompt`,
    unavailableReason: () => r.calibrationMissing ?? (domains().length ? null : 'calibration has no domain profiles (prompts had no kind)'),
    async choose(ctx: PolicyContext): Promise<PolicyResult> {
      const cal = r.calibration;
      if (!cal) throw new Error(r.calibrationMissing ?? 'no calibration');
      let domain = ctx.options.domain;
      let similarity: number | undefined;
      if (domain !== undefined && !cal.domains[domain]) {
        throw new InvalidRequestError(`domain '${domain}' is not one of: ${domains().join(', ')}`, 'domain');
      }
      if (domain === undefined) ({ domain, similarity } = inferDomain(cal.domains, await ctx.embedPrompt()));
      const profile = cal.domains[domain]!;
      const target = ctx.options.targetSpeedup ?? r.defaultTargetSpeedup;
      if (!(target >= 1 && target <= MAX_TARGET_SPEEDUP)) {
        throw new InvalidRequestError(`target speedup must be between 1 and ${MAX_TARGET_SPEEDUP}, got ${target}`, 'targetSpeedup');
      }
      const table = latencyTableFor(r, ctx.n);
      if (!table) throw new Error('no latency profile and no calibrated latency table');
      const own = await domainCore(cal.numLayers, profile, table, target);
      // Under mixed load, a core already in flight that serves this domain almost as well keeps the
      // batch in one group (router/shared-core.ts).
      const { cost, measure } = sharingCost(cal, profile);
      const shared = shareableCore(own.core, ctx.liveCores?.() ?? [], cost, table, target, r.coreShareTolerance);
      const core = shared ?? own;
      const plan = coreToPlan(core.core);
      const k = ctx.options.k ?? 0;
      if (!Number.isInteger(k) || k < 0 || k >= cal.numLayers * cal.numHeads) {
        throw new InvalidRequestError(`k (heads to mask) must be an integer from 0 to ${cal.numLayers * cal.numHeads - 1} for expert-profile, got ${k}`, 'k');
      }
      for (const [l, h] of leastImportantHeads(profile, k)) (plan.maskHeads[l] ??= []).push(h);
      for (const l of Object.keys(plan.maskHeads)) plan.maskHeads[Number(l)]!.sort((a, b) => a - b);
      return {
        plans: Array.from({ length: ctx.n }, () => structuredClone(plan)),
        detail: {
          domain,
          inferred: similarity !== undefined,
          ...(similarity !== undefined ? { similarity: Number(similarity.toFixed(4)) } : {}),
          targetSpeedup: target,
          predictedSpeedup: Number(core.predictedSpeedup.toFixed(3)),
          core: core.core.map(sublayerKey),
          ...(shared ? { sharedCore: true, ownCore: own.core.map(sublayerKey), costVsOwn: Number((shared.cost / Math.max(cost(own.core), 1e-12)).toFixed(3)), costMeasure: measure } : {}),
        },
      };
    },
  };
}
