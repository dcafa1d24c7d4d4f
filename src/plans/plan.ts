/**
 * Skip plan: what one candidate row skips. A layer is skipped when both its attention and its
 * MLP sublayer are. Indices are 0-based, sorted and unique once validated.
 * (Validation, the JSON wire form and cost accounting: see issue 6.)
 */
export interface SkipPlan {
  skipAttention: number[];
  skipMlp: number[];
  /** layer index -> masked head indices (query heads). */
  maskHeads: Record<number, number[]>;
}

/** The full model: nothing skipped, nothing masked. */
export const FULL_PLAN: SkipPlan = Object.freeze({ skipAttention: [], skipMlp: [], maskHeads: {} }) as SkipPlan;
