/**
 * Everything the engine reports about requests, in one object: Prometheus observations (queue time,
 * time to first token, inter-token latency, tokens, batch sizes, outcomes, durations, candidates'
 * finish reasons, speedup, diversity) and the gauges of running rows and waiting requests. The loop
 * calls one method per event and stays free of metric code.
 */
import type { Metrics, Outcome } from '../metrics/metrics.ts';
import type { CandidateRow } from './candidate-row.ts';
import type { ParentRequest } from './parent-request.ts';
import type { GenerationResult } from './types.ts';

/** Per metrics registry, each engine's running rows, waiting requests and prefix-cache positions (several engines share one while a reload drains the old). */
const shares = new WeakMap<Metrics, Map<RequestStats, [rows: number, waiting: number, cached: number]>>();

export class RequestStats {
  constructor(readonly metrics: Metrics) {}

  /** A request ended before it got a policy label we trust (unknown policy, full queue, bad field). */
  refused(policy: string, outcome: Outcome): void {
    this.metrics.requests.inc({ policy, outcome });
  }

  admitted(p: ParentRequest, now: number): void {
    this.metrics.queueTime.observe({ policy: p.policyName }, (now - p.arrivedAt) / 1000);
  }

  prefilled(p: ParentRequest): void {
    this.metrics.promptTokens.inc({ policy: p.policyName }, p.req.promptTokens.length);
    if (p.cachedTokens > 0) this.metrics.promptCachedTokens.inc({ policy: p.policyName }, p.cachedTokens);
  }

  /** One decode step of `rows` rows ran, on `graph` (when the runner says), after waiting `buildMs` for a core graph. */
  stepped(rows: number, graph?: string, buildMs = 0, probeMs = 0): void {
    this.metrics.batchSize.observe(rows);
    if (graph) this.metrics.decodeSteps.inc({ graph });
    if (buildMs > 0) this.metrics.coreGraphBuild.inc(buildMs / 1000);
    if (probeMs > 0) this.metrics.speedupProbe.inc(probeMs / 1000);
  }

  /** A speculative cycle drafted `drafted` tokens, of which the full model kept `accepted`. */
  speculated(drafted: number, accepted: number): void {
    this.metrics.specDraftTokens.inc(drafted);
    this.metrics.specAcceptedTokens.inc(accepted);
    this.metrics.specCycles.inc();
  }

  /** A row produced `tokens` tokens at `now`. */
  produced(p: ParentRequest, row: CandidateRow, tokens: number, now: number): void {
    const policy = p.policyName;
    this.metrics.generationTokens.inc({ policy }, tokens);
    if (p.firstTokenAt === null) {
      p.firstTokenAt = now;
      this.metrics.timeToFirstToken.observe({ policy }, (now - p.arrivedAt) / 1000);
    } else if (row.lastTokenAt > 0) {
      this.metrics.interTokenLatency.observe({ policy }, (now - row.lastTokenAt) / 1000);
    }
    row.lastTokenAt = now;
  }

  completed(p: ParentRequest, r: GenerationResult): void {
    const policy = p.policyName;
    const m = this.metrics;
    m.requests.inc({ policy, outcome: 'ok' });
    m.requestDuration.observe({ policy }, r.timings.totalMs / 1000);
    m.requestPromptTokens.observe({ policy }, p.req.promptTokens.length);
    m.requestGenerationTokens.observe({ policy }, r.completionTokens);
    for (const c of r.candidates) m.candidates.inc({ policy, finish_reason: c.finishReason });
    if (r.speedup !== null) m.speedup.observe({ policy }, r.speedup);
    m.skippedCompute.observe({ policy }, r.skippedComputeRatio);
    if (p.n >= 2) {
      const d = r.diversity;
      m.uniqueAnswers.observe({ policy }, d.uniqueAnswers);
      m.answerEntropy.observe({ policy }, d.answerEntropy);
      m.distinct2.observe({ policy }, d.distinct2);
      m.pairwiseDistance.observe({ policy }, d.meanPairwiseDistance);
      m.majorityShare.observe({ policy }, d.majorityShare);
    }
  }

  failed(p: ParentRequest, outcome: Outcome): void {
    this.metrics.requests.inc({ policy: p.policyName, outcome });
  }

  /** This engine's rows, waiting requests and cached prompt positions; the gauges show the sum over the engines sharing the metrics. */
  gauges(runningRows: number, waitingRequests: number, cachedPositions = 0): void {
    let all = shares.get(this.metrics);
    if (!all) shares.set(this.metrics, (all = new Map()));
    if (runningRows === 0 && waitingRequests === 0 && cachedPositions === 0) all.delete(this);
    else all.set(this, [runningRows, waitingRequests, cachedPositions]);
    const sum = [0, 0, 0];
    for (const v of all.values()) v.forEach((x, i) => (sum[i]! += x));
    this.metrics.runningRows.set(sum[0]!);
    this.metrics.waitingRequests.set(sum[1]!);
    this.metrics.prefixCachePositions.set(sum[2]!);
  }
}
