/** Policy `none`: every candidate runs the full model (vanilla best-of-N). */
import { FULL_PLAN } from '../plan.ts';
import type { SkipPolicy } from './policy.ts';

/** Creates the `none` policy. */
export function nonePolicy(): SkipPolicy {
  return {
    name: 'none',
    description: 'full model for every candidate (vanilla best-of-N)',
    unavailableReason: () => null,
    async choose(ctx) {
      return { plans: Array.from({ length: ctx.n }, () => FULL_PLAN) };
    },
  };
}
