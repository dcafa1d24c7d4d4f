/**
 * Metric names and pass/fail thresholds, shared by the k6 scripts (as `options.thresholds`) and the
 * Node driver (evaluated by `checkThreshold` with the same expressions). No Node or k6 APIs here.
 */
import type { LoadConfig } from './config.ts';

/** Custom metrics every scenario records, each tagged with `arm`. */
export const METRIC = {
  /** Trend (ms): request start to the last byte. */
  duration: 'skip_request_duration',
  /** Trend (ms): request start to the first non-empty token delta (streaming scenarios). */
  ttft: 'skip_ttft',
  /** Trend (ms): gap between a candidate's consecutive deltas (streaming scenarios). */
  itl: 'skip_itl',
  /** Trend: completion tokens of all candidates / request seconds. */
  tokensPerSecond: 'skip_tokens_per_second',
  /** Trend: the speedup the server reports. */
  speedup: 'skip_speedup',
  /** Trend: distinct answers / n, as reported. */
  uniqueAnswers: 'skip_unique_answers',
  /** Trend (bits): answer entropy, as reported. */
  answerEntropy: 'skip_answer_entropy',
  /** Rate: the selected answer equals the expected one. */
  correct: 'skip_correct',
  /** Rate: the request failed (transport error, non-2xx, gRPC status != OK, bad body). */
  errors: 'skip_errors',
  /** Counter: requests sent. */
  requests: 'skip_requests',
  /** Counter: HTTP 5xx or gRPC INTERNAL/UNKNOWN/DATA_LOSS answers. */
  serverErrors: 'skip_server_errors',
} as const;

/** k6-style thresholds: metric (optionally `{arm:NAME}`) -> expressions such as `p(95)<5000`. */
export function thresholdsFor(cfg: LoadConfig, arms: ReadonlyArray<{ name: string; minSpeedup?: number }>): Record<string, string[]> {
  const t: Record<string, string[]> = {
    [METRIC.serverErrors]: ['count==0'],
    [METRIC.errors]: [`rate<=${cfg.maxErrorRate}`],
    [METRIC.duration]: [`p(95)<${cfg.p95Ms}`],
  };
  for (const arm of arms) {
    t[`${METRIC.requests}{arm:${arm.name}}`] = ['count>0'];
    t[`${METRIC.errors}{arm:${arm.name}}`] = [`rate<=${cfg.maxErrorRate}`];
    if (arm.minSpeedup !== undefined) t[`${METRIC.speedup}{arm:${arm.name}}`] = [`avg>=${arm.minSpeedup}`];
  }
  return t;
}

const OPS: Record<string, (a: number, b: number) => boolean> = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '==': (a, b) => a === b,
  '===': (a, b) => a === b,
  '!=': (a, b) => a !== b,
};

/** The q-quantile (0..1) of `values` by linear interpolation, as k6's p(N); NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** Aggregates a sample list the way a k6 threshold names it: avg, min, max, med, p(N), count, rate. */
export function aggregate(agg: string, values: readonly number[]): number {
  const p = /^p\((\d+(?:\.\d+)?)\)$/.exec(agg);
  if (p) return quantile(values, Number(p[1]) / 100);
  const sum = values.reduce((a, b) => a + b, 0);
  switch (agg) {
    case 'avg':
      return values.length ? sum / values.length : Number.NaN;
    case 'min':
      return values.length ? Math.min(...values) : Number.NaN;
    case 'max':
      return values.length ? Math.max(...values) : Number.NaN;
    case 'med':
      return quantile(values, 0.5);
    case 'count':
      return sum;
    case 'rate':
      return values.length ? values.filter((v) => v !== 0).length / values.length : 0;
    default:
      throw new Error(`threshold aggregate '${agg}' is not one of avg, min, max, med, p(N), count, rate`);
  }
}

/**
 * Evaluates one threshold expression on samples (Counter: increments; Rate: 0/1; Trend: values).
 * A Trend with no samples fails (NaN compares false), like a k6 threshold on a metric never seen.
 */
export function checkThreshold(expr: string, values: readonly number[]): { ok: boolean; value: number } {
  const m = /^\s*([a-z]+(?:\(\d+(?:\.\d+)?\))?)\s*(<=|>=|===|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(expr);
  if (!m) throw new Error(`threshold '${expr}' must look like 'p(95)<5000' or 'rate<=0.01'`);
  const value = aggregate(m[1]!, values);
  return { ok: OPS[m[2]!]!(value, Number(m[3])), value };
}

/** Splits `metric{arm:NAME}` into its metric and arm (undefined when the threshold is for all arms). */
export function parseThresholdKey(key: string): { metric: string; arm?: string } {
  const m = /^([a-z0-9_]+)(?:\{arm:([^}]+)\})?$/.exec(key);
  if (!m) throw new Error(`threshold key '${key}' must be 'metric' or 'metric{arm:NAME}'`);
  return { metric: m[1]!, arm: m[2] };
}
