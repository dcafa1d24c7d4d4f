/**
 * Policy `explicit`: the request gives the plans, either one (`plan`) for every candidate or one
 * per candidate (`plans`, exactly n, or best_of where given: one per candidate generated). This is
 * where a request's own plans are checked against the model, once; errors name the plan field
 * (e.g. `plans[1].skip_attention[0]`).
 */
import { InvalidRequestError } from '../../errors.ts';
import { parsePlan, PlanError, type PlanShape, type SkipPlan } from '../plan.ts';
import type { SkipPolicy } from './policy.ts';

/** Parses one plan JSON against the model; the error names `field.<plan field>`. */
function checked(wire: unknown, shape: PlanShape, field: string): SkipPlan {
  try {
    return parsePlan(wire, shape);
  } catch (err) {
    if (err instanceof PlanError) throw new InvalidRequestError(err.message, err.field === 'plan' ? field : `${field}.${err.field}`);
    throw err;
  }
}

/** Creates the `explicit` policy. */
export function explicitPolicy(): SkipPolicy {
  return {
    name: 'explicit',
    description: 'plans given in the request: skip.plan for all candidates or skip.plans, one per candidate',
    unavailableReason: () => null,
    async choose(ctx) {
      const { plan, plans } = ctx.options;
      if (plan !== undefined && plans !== undefined) throw new InvalidRequestError('give a plan or plans, not both', 'plans');
      if (plans) {
        if (plans.length !== ctx.n) {
          throw new InvalidRequestError(`plans has ${plans.length} plans for ${ctx.n} candidates (n, or best_of where given); give exactly one plan per candidate, or one plan for all as skip.plan`, 'plans');
        }
        return { plans: plans.map((p, i) => checked(p, ctx.info, `plans[${i}]`)) };
      }
      if (plan) {
        const one = checked(plan, ctx.info, 'plan');
        return { plans: Array.from({ length: ctx.n }, () => one) };
      }
      throw new InvalidRequestError("policy 'explicit' needs a plan or plans", 'plan');
    },
  };
}
