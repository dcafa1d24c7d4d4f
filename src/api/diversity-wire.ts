/** The diversity figures in wire form: the same snake_case fields in the HTTP `skip` summary and the gRPC Diversity message. */
import type { DiversityFigures } from '../engine/diversity.ts';

export interface DiversityWire {
  unique_answers: number;
  answer_entropy: number;
  distinct_2: number;
  mean_pairwise_distance: number;
  majority_share: number;
  plan_distance: number;
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/** Domain figures -> wire fields (rounded to 6 decimals). */
export function diversityToWire(d: DiversityFigures): DiversityWire {
  return {
    unique_answers: round(d.uniqueAnswers),
    answer_entropy: round(d.answerEntropy),
    distinct_2: round(d.distinct2),
    mean_pairwise_distance: round(d.meanPairwiseDistance),
    majority_share: round(d.majorityShare),
    plan_distance: round(d.planDistance),
  };
}
