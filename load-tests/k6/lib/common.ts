/**
 * What every k6 scenario shares: the run configuration from __ENV, the custom metrics (tagged per
 * arm), options with the shared thresholds, and setup() that resolves the model id and refuses
 * arms whose policy the server reports unavailable.
 */
import http from 'k6/http';
import { Counter, Rate, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { loadConfig, httpHeaders, type LoadConfig } from '../../shared/config.ts';
import type { ResultFacts } from '../../shared/responses.ts';
import { METRIC, thresholdsFor } from '../../shared/thresholds.ts';

export const cfg: LoadConfig = loadConfig(__ENV);

export const metrics = {
  duration: new Trend(METRIC.duration, true),
  ttft: new Trend(METRIC.ttft, true),
  itl: new Trend(METRIC.itl, true),
  tokensPerSecond: new Trend(METRIC.tokensPerSecond),
  speedup: new Trend(METRIC.speedup),
  uniqueAnswers: new Trend(METRIC.uniqueAnswers),
  answerEntropy: new Trend(METRIC.answerEntropy),
  correct: new Rate(METRIC.correct),
  errors: new Rate(METRIC.errors),
  requests: new Counter(METRIC.requests),
  serverErrors: new Counter(METRIC.serverErrors),
};

/** Options for a scenario: constant arrival rate from RATE/DURATION/VUS/MAX_VUS, shared thresholds. */
export function scenarioOptions(arms: ReadonlyArray<{ name: string; minSpeedup?: number }>): Options {
  return {
    scenarios: {
      load: {
        executor: 'constant-arrival-rate',
        rate: cfg.rate,
        timeUnit: '1s',
        duration: `${cfg.duration}s`,
        preAllocatedVUs: cfg.vus,
        maxVUs: cfg.maxVus,
      },
    },
    thresholds: thresholdsFor(cfg, arms),
    summaryTrendStats: ['avg', 'min', 'med', 'p(95)', 'p(99)', 'max', 'count'],
  };
}

export interface SetupData {
  model: string;
}

/** setup(): the model id (MODEL or the first of GET /v1/models); fails when an arm's policy is unavailable. */
export function resolveTarget(policies: string[]): SetupData {
  const res = http.get(`${cfg.baseUrl}/v1/models`, { headers: httpHeaders(cfg) });
  if (res.status !== 200) throw new Error(`GET /v1/models answered ${res.status}: is BASE_URL=${cfg.baseUrl} right?`);
  const body = res.json() as { data?: Array<Record<string, unknown>> };
  const first = body.data?.[0];
  if (!first) throw new Error('GET /v1/models listed no model');
  const policyList = first.skip_policies as Array<{ name: string; available: boolean; unavailable_reason?: string }> | undefined;
  for (const p of policyList ?? []) {
    if (policies.includes(p.name) && !p.available) {
      throw new Error(`policy '${p.name}' is unavailable on the server (${p.unavailable_reason ?? 'no reason given'}); drop it from ARMS`);
    }
  }
  return { model: cfg.model || String(first.id) };
}

/** Records one finished request under its arm tag. */
export function record(arm: string, ok: boolean, serverError: boolean, durationMs: number, facts: ResultFacts | null): void {
  const tags = { arm };
  metrics.requests.add(1, tags);
  metrics.errors.add(!ok, tags);
  if (serverError) metrics.serverErrors.add(1, tags);
  metrics.duration.add(durationMs, tags);
  if (!ok || !facts) return;
  if (durationMs > 0) metrics.tokensPerSecond.add(facts.completionTokens / (durationMs / 1000), tags);
  if (facts.speedup !== undefined) metrics.speedup.add(facts.speedup, tags);
  if (facts.uniqueAnswers !== undefined) metrics.uniqueAnswers.add(facts.uniqueAnswers, tags);
  if (facts.answerEntropy !== undefined) metrics.answerEntropy.add(facts.answerEntropy, tags);
  if (facts.correct !== undefined) metrics.correct.add(facts.correct, tags);
}
