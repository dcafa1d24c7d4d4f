/**
 * A finished request as the store records it: the prepared request (rendered prompt, policy,
 * reference answer, tags), the engine's result (candidates with their plans in wire form, vote,
 * diversity, speedup, timings) and the versions that served it.
 */
import { planToWire } from '../plans/plan.ts';
import type { ServedRecord } from '../store/types.ts';
import { type ServedVersions, versionLabel } from '../versions/served-versions.ts';
import type { GenerationRequest, GenerationResult, RequestSpec } from './types.ts';

const finite = (x: number | null | undefined): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/**
 * Builds the record of one completed request; `createdAt` is when it arrived (ms since the epoch);
 * `keep` is a Responses API answer's state (RequestSpec.keepResponse).
 */
export function servedRecord(id: string, createdAt: number, req: GenerationRequest, r: GenerationResult, versions: ServedVersions, keep?: RequestSpec['keepResponse']): ServedRecord {
  const rec: ServedRecord = {
    id,
    createdAt,
    promptText: req.promptText,
    promptTokens: req.promptTokens.length,
    policy: r.policy,
    modelVersion: versionLabel(versions.model),
    candidates: r.candidates.map((c) => ({
      index: c.index,
      plan: planToWire(c.plan),
      text: c.text,
      answer: c.answer,
      meanLogprob: finite(c.meanLogprob),
      finishReason: c.finishReason,
      completionTokens: c.tokenIds.length,
    })),
    diversity: { ...r.diversity },
    timings: { queueMs: r.timings.queueMs, ttftMs: r.timings.firstTokenMs, totalMs: r.timings.totalMs },
  };
  if (r.arm !== undefined) rec.arm = r.arm;
  if (versions.selector) rec.selectorVersion = versionLabel(versions.selector);
  if (r.selectedIndex !== null) rec.selectedIndex = r.selectedIndex;
  if (r.speedup !== null && Number.isFinite(r.speedup)) rec.speedup = r.speedup;
  if (r.referenceAnswer !== undefined) {
    rec.referenceAnswer = r.referenceAnswer;
    rec.referenceMatch = r.matchedReference ?? false;
  }
  if (req.metadata) rec.metadata = req.metadata;
  if (keep) rec.response = { input: keep.input, object: keep.object(id, r) };
  return rec;
}
