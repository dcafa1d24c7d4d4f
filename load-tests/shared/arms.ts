/**
 * Policy arms: which skip policies a load run compares, shared by the k6 scripts and the Node driver.
 * Also the server-side A/B arms file (sticky per `x-skipserve-key`) that the deploy ConfigMap ships
 * and the `ab` scenario exercises. Plain data and validation: no Node or k6 APIs here.
 */

/** Every policy name the server knows (some may be reported unavailable by GET /v1/models). */
export const POLICY_NAMES = [
  'none',
  'explicit',
  'random-heads',
  'head-importance',
  'latency-budget',
  'expert-profile',
  'learned',
] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

/** One arm of a policy-comparison run: a label and the request-side `skip` options it sends. */
export interface LoadArm {
  /** Label in metrics tags and the summary table (unique within a run). */
  name: string;
  policy: PolicyName;
  /** random-heads / head-importance: heads masked per candidate. */
  k?: number;
  /** latency-budget / learned: the speedup the shared skip core should reach. */
  targetSpeedup?: number;
  /** expert-profile: the profile's domain. */
  domain?: string;
  /** Threshold: the mean speedup the server reports for this arm must reach this value. */
  minSpeedup?: number;
  /**
   * Threshold (Node driver; k6 thresholds cannot compare arms): the `none` arm's p50 latency over
   * this arm's must reach this value, i.e. the skip core's saving shows at p50 under the mixed load.
   * Checked once both arms have MIN_P50_REQUESTS successful requests.
   */
  minP50Speedup?: number;
}

/** Successful requests each of two arms needs before their p50 latencies are compared. */
export const MIN_P50_REQUESTS = 20;

/** Arms compared by the `policies` scenario unless ARMS / --arms says otherwise. */
export const DEFAULT_ARMS: readonly LoadArm[] = [
  { name: 'none', policy: 'none' },
  { name: 'random-heads', policy: 'random-heads', k: 2 },
  { name: 'head-importance', policy: 'head-importance', k: 2 },
  { name: 'latency-budget', policy: 'latency-budget', targetSpeedup: 1.3, minSpeedup: 1.02, minP50Speedup: 1.02 },
  // No domain: the server infers it from the prompt (its profiles: GET /v1/models).
  { name: 'expert-profile', policy: 'expert-profile', targetSpeedup: 1.3, minP50Speedup: 1.02 },
  // Fast mode: the latency-budget core of the same target (shared with that arm's rows) + learned head
  // masks. It also pays a full-model prefill for the prompt embedding, so its p50 only has to match none's.
  { name: 'learned', policy: 'learned', targetSpeedup: 1.3, minSpeedup: 1.02, minP50Speedup: 1.0 },
];

/** One server-side A/B arm (the JSON the server reads from SKIPSERVE_ARMS_FILE). */
export interface ServerArm {
  name: string;
  policy: PolicyName;
  weight: number;
}

/** The A/B split shipped in deploy/base/config/arms.json (a test keeps the two identical). */
export const SERVER_AB_ARMS: { arms: ServerArm[] } = {
  arms: [
    { name: 'learned', policy: 'learned', weight: 50 },
    { name: 'control', policy: 'none', weight: 50 },
  ],
};

function fail(field: string, why: string): never {
  throw new Error(`arms: '${field}' ${why}`);
}

function optionalNumber(v: unknown, field: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) fail(field, `must be a number >= ${min}`);
  return v;
}

/** Validates one arm object; throws an error naming the offending field. */
export function parseArm(raw: unknown, index: number): LoadArm {
  const at = `arms[${index}]`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(at, 'must be an object');
  const o = raw as Record<string, unknown>;
  const known = ['name', 'policy', 'k', 'targetSpeedup', 'domain', 'minSpeedup', 'minP50Speedup'];
  for (const key of Object.keys(o)) if (!known.includes(key)) fail(`${at}.${key}`, `is unknown (allowed: ${known.join(', ')})`);
  const policy = o.policy;
  if (typeof policy !== 'string' || !(POLICY_NAMES as readonly string[]).includes(policy)) {
    fail(`${at}.policy`, `must be one of ${POLICY_NAMES.join(', ')}`);
  }
  const name = o.name === undefined ? policy : o.name;
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9_.-]{0,62}$/i.test(name)) {
    fail(`${at}.name`, 'must be 1-63 letters, digits, dots, dashes or underscores');
  }
  if (o.domain !== undefined && (typeof o.domain !== 'string' || o.domain === '')) fail(`${at}.domain`, 'must be a non-empty string');
  const arm: LoadArm = { name, policy: policy as PolicyName };
  const k = optionalNumber(o.k, `${at}.k`, 1);
  if (k !== undefined) {
    if (!Number.isInteger(k)) fail(`${at}.k`, 'must be an integer');
    arm.k = k;
  }
  const target = optionalNumber(o.targetSpeedup, `${at}.targetSpeedup`, 1);
  if (target !== undefined) arm.targetSpeedup = target;
  const min = optionalNumber(o.minSpeedup, `${at}.minSpeedup`, 0);
  if (min !== undefined) arm.minSpeedup = min;
  const p50 = optionalNumber(o.minP50Speedup, `${at}.minP50Speedup`, 0);
  if (p50 !== undefined) arm.minP50Speedup = p50;
  if (typeof o.domain === 'string') arm.domain = o.domain;
  return arm;
}

/**
 * Parses an arms list from JSON text: either an array of arms or `{"arms": [...]}`, or a
 * comma-separated list of policy names (`none,random-heads`). Names must be unique.
 */
export function parseArms(text: string): LoadArm[] {
  const trimmed = text.trim();
  let list: unknown;
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    try {
      list = JSON.parse(trimmed);
    } catch (err) {
      fail('arms', `is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    if (!Array.isArray(list)) list = (list as { arms?: unknown }).arms;
  } else {
    list = trimmed.split(',').filter((s) => s.trim() !== '').map((s) => ({ policy: s.trim() }));
  }
  if (!Array.isArray(list) || list.length === 0) fail('arms', 'must be a non-empty list');
  const arms = list.map((raw, i) => parseArm(raw, i));
  const seen = new Set<string>();
  for (const a of arms) {
    if (seen.has(a.name)) fail('arms', `has the name '${a.name}' twice`);
    seen.add(a.name);
  }
  return arms;
}

/** The request's `skip` object (wire names) for an arm. */
export function skipExtension(arm: LoadArm): Record<string, unknown> {
  const skip: Record<string, unknown> = { policy: arm.policy };
  if (arm.k !== undefined) skip.k = arm.k;
  if (arm.targetSpeedup !== undefined) skip.target_speedup = arm.targetSpeedup;
  if (arm.domain !== undefined) skip.domain = arm.domain;
  return skip;
}

/** Parses a server A/B arms file (`{"arms":[{name, policy, weight}]}`); throws naming the field. */
export function parseServerArms(text: string): { arms: ServerArm[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    fail('ab arms', `is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const list = (raw as { arms?: unknown } | null)?.arms;
  if (!Array.isArray(list) || list.length === 0) fail('arms', 'must be a non-empty list');
  const arms = list.map((a: unknown, i: number): ServerArm => {
    const o = (a ?? {}) as Record<string, unknown>;
    if (typeof o.name !== 'string' || o.name === '') fail(`arms[${i}].name`, 'must be a non-empty string');
    if (typeof o.policy !== 'string' || !(POLICY_NAMES as readonly string[]).includes(o.policy)) {
      fail(`arms[${i}].policy`, `must be one of ${POLICY_NAMES.join(', ')}`);
    }
    if (typeof o.weight !== 'number' || !(o.weight > 0)) fail(`arms[${i}].weight`, 'must be a number > 0');
    return { name: o.name, policy: o.policy as PolicyName, weight: o.weight };
  });
  return { arms };
}
