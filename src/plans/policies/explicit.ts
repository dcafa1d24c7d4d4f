/**
 * Policy `explicit`: the request gives the plans, either one (`skip.plan`) for every candidate or
 * one per candidate (`skip.plans`, exactly n). The plans were validated against the model at the edge.
 */
import { InvalidRequestError } from '../../errors.ts';
import type { SkipPolicy } from './policy.ts';

/** Creates the `explicit` policy. */
export function explicitPolicy(): SkipPolicy {
  return {
    name: 'explicit',
    description: 'plans given in the request: skip.plan for all candidates or skip.plans, one per candidate',
    unavailableReason: () => null,
    async choose(ctx) {
      const { plan, plans } = ctx.options;
      if (plans) {
        if (plans.length !== ctx.n) {
          throw new InvalidRequestError(`skip.plans has ${plans.length} plans but n is ${ctx.n}; give exactly one plan per candidate`, 'skip.plans');
        }
        return { plans: [...plans] };
      }
      if (plan) return { plans: Array.from({ length: ctx.n }, () => plan) };
      throw new InvalidRequestError("policy 'explicit' needs skip.plan or skip.plans", 'skip.plan');
    },
  };
}
