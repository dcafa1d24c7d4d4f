/**
 * Turns the driver's samples into the per-arm summary (requests/s, latency, TTFT, inter-token latency,
 * tokens/s, error rate, reported speedup and diversity, accuracy), evaluates the shared k6 thresholds
 * on them, checks arm stickiness for the `ab` scenario, and formats the table.
 */
import type { LoadConfig } from '../shared/config.ts';
import { checkThreshold, METRIC, parseThresholdKey, quantile, thresholdsFor } from '../shared/thresholds.ts';
import type { Scenario } from '../shared/scenarios.ts';
import { MIN_P50_REQUESTS } from '../shared/arms.ts';
import type { Sample } from './types.ts';

interface Quantiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface ArmSummary {
  arm: string;
  requests: number;
  ok: number;
  errors: number;
  serverErrors: number;
  cut: number;
  errorRate: number;
  requestsPerSecond: number;
  /** Seconds. */
  latency: Quantiles & { mean: number | null };
  ttft: Quantiles;
  interTokenLatency: Quantiles;
  /** Completion tokens of all candidates of successful requests / wall seconds of the run. */
  tokensPerSecond: number;
  completionTokens: number;
  meanSpeedup: number | null;
  /** The `none` arm's p50 latency / this arm's (end-to-end speedup at p50 under this run's mixed load). */
  p50VsNone: number | null;
  meanSkippedComputeRatio: number | null;
  meanUniqueAnswers: number | null;
  meanAnswerEntropy: number | null;
  accuracy: number | null;
  statuses: Record<string, number>;
  firstError?: string;
}

export interface ThresholdResult {
  key: string;
  expr: string;
  value: number;
  ok: boolean;
}

export interface Summary {
  scenario: string;
  wallS: number;
  iterations: number;
  total: ArmSummary;
  arms: ArmSummary[];
  thresholds: ThresholdResult[];
  /** Callers whose arm changed between requests (ab scenario); must be empty. */
  stickyViolations: string[];
  /** Callers seen more than once (ab scenario): stickiness was only checked for these; must be > 0. */
  repeatedCallers: number;
  passed: boolean;
}

const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const q = (xs: number[], scale = 1): Quantiles => {
  const at = (p: number) => (xs.length ? quantile(xs, p) * scale : null);
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
};
const defined = (xs: Array<number | undefined>): number[] => xs.filter((x): x is number => x !== undefined);

function summarizeArm(arm: string, samples: Sample[], wallS: number): ArmSummary {
  const counted = samples.filter((s) => !s.cut);
  const good = counted.filter((s) => s.ok);
  const statuses: Record<string, number> = {};
  for (const s of samples) statuses[s.status] = (statuses[s.status] ?? 0) + 1;
  const completionTokens = good.reduce((a, s) => a + (s.facts?.completionTokens ?? 0), 0);
  const correct = defined(good.map((s) => (s.facts?.correct === undefined ? undefined : s.facts.correct ? 1 : 0)));
  const lat = counted.map((s) => s.durationMs);
  return {
    arm,
    requests: samples.length,
    ok: good.length,
    errors: counted.length - good.length,
    serverErrors: samples.filter((s) => s.serverError).length,
    cut: samples.length - counted.length,
    errorRate: counted.length ? (counted.length - good.length) / counted.length : 0,
    requestsPerSecond: wallS > 0 ? counted.length / wallS : 0,
    latency: { ...q(lat, 1 / 1000), mean: lat.length ? mean(lat)! / 1000 : null },
    ttft: q(defined(good.map((s) => s.ttftMs)), 1 / 1000),
    interTokenLatency: q(good.flatMap((s) => s.itlMs), 1 / 1000),
    tokensPerSecond: wallS > 0 ? completionTokens / wallS : 0,
    completionTokens,
    meanSpeedup: mean(defined(good.map((s) => s.facts?.speedup))),
    p50VsNone: null,
    meanSkippedComputeRatio: mean(defined(good.map((s) => s.facts?.skippedComputeRatio))),
    meanUniqueAnswers: mean(defined(good.map((s) => s.facts?.uniqueAnswers))),
    meanAnswerEntropy: mean(defined(good.map((s) => s.facts?.answerEntropy))),
    accuracy: mean(correct),
    statuses,
    firstError: samples.find((s) => s.error)?.error,
  };
}

/** Sample values of a shared k6 metric, for threshold evaluation. */
function metricValues(metric: string, samples: Sample[]): number[] {
  const counted = samples.filter((s) => !s.cut);
  const good = counted.filter((s) => s.ok);
  switch (metric) {
    case METRIC.requests:
      return samples.map(() => 1);
    case METRIC.errors:
      return counted.map((s) => (s.ok ? 0 : 1));
    case METRIC.serverErrors:
      return samples.map((s) => (s.serverError ? 1 : 0));
    case METRIC.duration:
      return counted.map((s) => s.durationMs);
    case METRIC.ttft:
      return defined(good.map((s) => s.ttftMs));
    case METRIC.speedup:
      return defined(good.map((s) => s.facts?.speedup));
    case METRIC.correct:
      return defined(good.map((s) => (s.facts?.correct === undefined ? undefined : s.facts.correct ? 1 : 0)));
    default:
      throw new Error(`the driver does not evaluate thresholds on ${metric}`);
  }
}

/** Builds the summary of a run and decides pass/fail with the scenario's shared thresholds. */
export function summarize(cfg: LoadConfig, scenario: Scenario, samples: Sample[], wallS: number, iterations: number): Summary {
  const expected = scenario.arms === 'sticky' ? cfg.abArms : cfg.arms;
  const names = [...new Set([...expected.map((a) => a.name), ...samples.map((s) => s.arm)])];
  const arms = names.map((n) => summarizeArm(n, samples.filter((s) => s.arm === n), wallS));
  const thresholds: ThresholdResult[] = [];
  for (const [key, exprs] of Object.entries(thresholdsFor(cfg, expected))) {
    const { metric, arm } = parseThresholdKey(key);
    const values = metricValues(metric, arm === undefined ? samples : samples.filter((s) => s.arm === arm));
    for (const expr of exprs) thresholds.push({ key, expr, ...checkThreshold(expr, values) });
  }
  // Cross-arm check (driver only): a skip core's saving must show at p50 against the `none` arm.
  const noneArm = scenario.arms === 'sticky' ? undefined : cfg.arms.find((a) => a.policy === 'none');
  const none = noneArm ? arms.find((a) => a.arm === noneArm.name) : undefined;
  for (const a of arms) {
    if (!none || a === none || none.latency.p50 === null || a.latency.p50 === null) continue;
    a.p50VsNone = none.latency.p50 / a.latency.p50;
    const want = cfg.arms.find((e) => e.name === a.arm)?.minP50Speedup;
    if (want === undefined) continue;
    if (a.ok < MIN_P50_REQUESTS || none.ok < MIN_P50_REQUESTS) continue;
    thresholds.push({ key: `${METRIC.duration}{arm:${a.arm}} p50 vs ${none.arm}`, expr: `>=${want}`, value: a.p50VsNone, ok: a.p50VsNone >= want });
  }
  const stickyViolations: string[] = [];
  const repeated = new Set<string>();
  if (scenario.arms === 'sticky') {
    const first = new Map<string, string>();
    for (const s of samples) {
      if (!s.ok || !s.callerKey) continue;
      const seen = first.get(s.callerKey);
      if (seen === undefined) first.set(s.callerKey, s.arm);
      else {
        repeated.add(s.callerKey);
        if (seen !== s.arm && !stickyViolations.includes(s.callerKey)) stickyViolations.push(s.callerKey);
      }
    }
  }
  const stickyOk = scenario.arms !== 'sticky' || (stickyViolations.length === 0 && repeated.size > 0);
  return {
    scenario: scenario.name,
    wallS,
    iterations,
    total: summarizeArm('all', samples, wallS),
    arms,
    thresholds,
    stickyViolations,
    repeatedCallers: repeated.size,
    passed: thresholds.every((t) => t.ok) && stickyOk,
  };
}

const fmt = (v: number | null, digits = 2) => (v === null || Number.isNaN(v) ? '-' : v.toFixed(digits));
const ms = (v: number | null) => (v === null ? '-' : (v * 1000).toFixed(0));

/** The human-readable table: one row per arm plus the total, then the thresholds. */
export function formatSummary(s: Summary): string {
  const head = ['arm', 'reqs', 'req/s', 'err%', '5xx', 'p50 ms', 'p95 ms', 'p99 ms', 'p50 vs none', 'TTFT p50', 'TTFT p95', 'ITL p50', 'ITL p95', 'tok/s', 'speedup', 'uniq', 'H bits', 'acc'];
  const row = (a: ArmSummary) => [
    a.arm,
    String(a.requests),
    fmt(a.requestsPerSecond),
    fmt(a.errorRate * 100, 1),
    String(a.serverErrors),
    ms(a.latency.p50),
    ms(a.latency.p95),
    ms(a.latency.p99),
    fmt(a.p50VsNone),
    ms(a.ttft.p50),
    ms(a.ttft.p95),
    ms(a.interTokenLatency.p50),
    ms(a.interTokenLatency.p95),
    fmt(a.tokensPerSecond, 1),
    fmt(a.meanSpeedup),
    fmt(a.meanUniqueAnswers),
    fmt(a.meanAnswerEntropy),
    fmt(a.accuracy),
  ];
  const rows = [head, ...s.arms.map(row), row(s.total)];
  const widths = head.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [`scenario ${s.scenario}: ${s.iterations} iterations in ${s.wallS.toFixed(1)} s`, line(head), ...rows.slice(1).map(line)];
  out.push('', 'thresholds:');
  for (const t of s.thresholds) out.push(`  ${t.ok ? 'ok  ' : 'FAIL'} ${t.key} ${t.expr} (got ${fmt(t.value, 3)})`);
  if (s.scenario === 'ab') {
    const ok = s.stickyViolations.length === 0 && s.repeatedCallers > 0;
    const detail = s.stickyViolations.length ? `arm changed for callers ${s.stickyViolations.join(', ')}` : `${s.repeatedCallers} callers sent more than once`;
    out.push(`  ${ok ? 'ok  ' : 'FAIL'} sticky arms per x-skipserve-key (${detail})`);
  }
  for (const a of s.arms) if (a.firstError && a.errors + a.cut > 0) out.push(`  first error on ${a.arm}: ${a.firstError}`);
  out.push(s.passed ? 'PASSED' : 'FAILED');
  return out.join('\n');
}
