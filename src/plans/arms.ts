/**
 * A/B arms for staging: a weighted list of named policy arms, loaded from a JSON file
 * (--arms-file, SKIPSERVE_ARMS_FILE) or inline JSON (--arms, SKIPSERVE_ARMS). A request without an explicit policy is
 * assigned an arm by a stable hash of its caller key (header `x-skipserve-key`), else at random,
 * so one caller always lands in the same arm.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { PolicyOptions } from './policies/policy.ts';

/** One arm: a policy (with fixed options) and its share of the traffic. */
export interface Arm {
  name: string;
  policy: string;
  weight: number;
  options: PolicyOptions;
}

export interface ArmsConfig {
  arms: Arm[];
}

const armSchema = z
  .object({
    name: z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only').optional(),
    policy: z.string().min(1),
    weight: z.number().positive().finite(),
    k: z.number().int().positive().optional(),
    target_speedup: z.number().min(1).optional(),
    domain: z.string().min(1).optional(),
  })
  .strict();

const configSchema = z.object({ arms: z.array(armSchema).min(1) }).strict();

/**
 * Validates an arms config (parsed JSON). Names default to the policy name and must be unique;
 * when `knownPolicies` is given, unknown policies are rejected. Errors name the bad field.
 */
export function parseArms(value: unknown, source = 'arms config', knownPolicies?: readonly string[]): ArmsConfig {
  const r = configSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new Error(`${source}: invalid field '${issue.path.join('.') || '(root)'}': ${issue.message}`);
  }
  const names = new Set<string>();
  const arms = r.data.arms.map((a, i): Arm => {
    const name = a.name ?? a.policy;
    if (names.has(name)) throw new Error(`${source}: arms.${i}.name '${name}' is used twice (give each arm a distinct name)`);
    names.add(name);
    if (knownPolicies && !knownPolicies.includes(a.policy)) {
      throw new Error(`${source}: arms.${i}.policy '${a.policy}' is not one of: ${knownPolicies.join(', ')}`);
    }
    const options: PolicyOptions = {};
    if (a.k !== undefined) options.k = a.k;
    if (a.target_speedup !== undefined) options.targetSpeedup = a.target_speedup;
    if (a.domain !== undefined) options.domain = a.domain;
    return { name, policy: a.policy, weight: a.weight, options };
  });
  return { arms };
}

/** The skip-core targets the arms ask for (`target_speedup`), once each: their cores are built at startup like --warm-targets. */
export function armTargets(arms: ArmsConfig | null): number[] {
  return [...new Set((arms?.arms ?? []).flatMap((a) => (a.options.targetSpeedup === undefined ? [] : [a.options.targetSpeedup])))];
}

/**
 * Loads the arms from the config: `armsFile` (a path) or `arms` (inline JSON); null when neither is
 * set. A set-but-broken config throws naming the setting, so startup fails fast.
 */
export function loadArms(cfg: { armsFile?: string; arms?: string }, knownPolicies?: readonly string[]): ArmsConfig | null {
  if (cfg.armsFile) {
    const source = `--arms-file (${cfg.armsFile})`;
    let text: string;
    try {
      text = readFileSync(cfg.armsFile, 'utf8');
    } catch (err) {
      throw new Error(`${source}: cannot read: ${(err as Error).message}`);
    }
    return parseArms(parseJson(text, source), source, knownPolicies);
  }
  if (cfg.arms) return parseArms(parseJson(cfg.arms, '--arms'), '--arms', knownPolicies);
  return null;
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not valid JSON: ${(err as Error).message}`);
  }
}

/** A point in [0, 1) from the caller key: the first 48 bits of its SHA-256. */
export function keyBucket(key: string): number {
  const d = createHash('sha256').update(key).digest();
  return d.readUIntBE(0, 6) / 2 ** 48;
}

/**
 * The arm of a request: by the stable hash of `key` when given (same key, same arm), else by
 * `random()`. Arms own consecutive slices of [0, 1) in proportion to their weights.
 */
export function assignArm(config: ArmsConfig, key?: string | null, random: () => number = Math.random): Arm {
  const u = key ? keyBucket(key) : random();
  const total = config.arms.reduce((s, a) => s + a.weight, 0);
  let acc = 0;
  for (const arm of config.arms) {
    acc += arm.weight / total;
    if (u < acc) return arm;
  }
  return config.arms[config.arms.length - 1]!;
}
