/** The `skip` summary of an HTTP response in wire form. */
import type { GenerationResult } from '../../engine/types.ts';
import { diversityToWire, type DiversityWire } from '../diversity-wire.ts';

export interface SkipSummaryWire {
  policy: string;
  arm?: string;
  selected_index: number | null;
  speedup: number | null;
  skipped_compute_ratio: number;
  diversity: DiversityWire;
  policy_detail?: Record<string, unknown>;
  reference_answer?: string;
  matched_reference?: boolean;
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/** Builds the response's `skip` object from an engine result. */
export function skipSummary(r: GenerationResult): SkipSummaryWire {
  const out: SkipSummaryWire = {
    policy: r.policy,
    selected_index: r.selectedIndex,
    speedup: r.speedup === null ? null : round(r.speedup),
    skipped_compute_ratio: round(r.skippedComputeRatio),
    diversity: diversityToWire(r.diversity),
  };
  if (r.arm) out.arm = r.arm;
  if (r.policyDetail) out.policy_detail = r.policyDetail;
  if (r.referenceAnswer !== undefined) {
    out.reference_answer = r.referenceAnswer;
    out.matched_reference = r.matchedReference ?? false;
  }
  return out;
}
