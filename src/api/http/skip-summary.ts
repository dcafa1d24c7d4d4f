/** The `skip` summary of an HTTP response in wire form. */
import type { GenerationResult } from '../../engine/types.ts';

export interface SkipSummaryWire {
  policy: string;
  arm?: string;
  selected_index: number | null;
  speedup: number | null;
  skipped_compute_ratio: number;
  diversity: {
    unique_answers: number;
    answer_entropy: number;
    distinct_2: number;
    mean_pairwise_distance: number;
    majority_share: number;
    plan_distance: number;
  };
  policy_detail?: Record<string, unknown>;
  reference_answer?: string;
  matched_reference?: boolean;
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/** Builds the response's `skip` object from an engine result. */
export function skipSummary(r: GenerationResult): SkipSummaryWire {
  const d = r.diversity;
  const out: SkipSummaryWire = {
    policy: r.policy,
    selected_index: r.selectedIndex,
    speedup: r.speedup === null ? null : round(r.speedup),
    skipped_compute_ratio: round(r.skippedComputeRatio),
    diversity: {
      unique_answers: round(d.uniqueAnswers),
      answer_entropy: round(d.answerEntropy),
      distinct_2: round(d.distinct2),
      mean_pairwise_distance: round(d.meanPairwiseDistance),
      majority_share: round(d.majorityShare),
      plan_distance: round(d.planDistance),
    },
  };
  if (r.arm) out.arm = r.arm;
  if (r.policyDetail) out.policy_detail = r.policyDetail;
  if (r.referenceAnswer !== undefined) {
    out.reference_answer = r.referenceAnswer;
    out.matched_reference = r.matchedReference ?? false;
  }
  return out;
}
