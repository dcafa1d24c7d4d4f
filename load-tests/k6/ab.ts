/**
 * k6 scenario `ab`: requests carry no policy but an x-skipserve-key from CALLERS distinct callers;
 * the server's A/B arms (AB_ARMS, the same JSON as its SKIPSERVE_ARMS_FILE) pick the policy. Checks
 * that every arm gets traffic and that a caller keeps its arm (within a VU).
 *   k6 run -e BASE_URL=... -e AB_ARMS="$(cat deploy/base/config/arms.json)" load-tests/k6/ab.ts
 */
import { check } from 'k6';
import exec from 'k6/execution';
import { Rate } from 'k6/metrics';
import { promptAt } from '../shared/prompts.ts';
import { callerKey } from '../shared/requests.ts';
import { armsForIteration, scenarioNamed } from '../shared/scenarios.ts';
import { cfg, resolveTarget, scenarioOptions, type SetupData } from './lib/common.ts';
import { chatOnce } from './lib/http-chat.ts';

const scenario = scenarioNamed('ab');
const sticky = new Rate('skip_sticky_arm');
const baseOptions = scenarioOptions(cfg.abArms);
export const options = { ...baseOptions, thresholds: { ...baseOptions.thresholds, skip_sticky_arm: ['rate==1'] } };

/** caller key -> arm this VU saw first. */
const seen = new Map<string, string>();

export function setup(): SetupData {
  return resolveTarget(cfg.abArms.map((a) => a.policy));
}

export default function (data: SetupData): void {
  const i = exec.scenario.iterationInTest;
  const key = callerKey(cfg, i);
  for (const arm of armsForIteration(scenario, cfg.arms, i)) {
    const facts = chatOnce(data.model, promptAt(i, cfg.tier), arm, i, key);
    if (!facts?.arm) continue;
    const first = seen.get(key) ?? facts.arm;
    seen.set(key, first);
    sticky.add(first === facts.arm);
    check(facts, { 'arm is one of AB_ARMS': (f) => cfg.abArms.some((a) => a.name === f.arm) });
  }
}
