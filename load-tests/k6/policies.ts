/**
 * k6 scenario `policies`: each iteration sends the same prompt and seed to every policy arm, so
 * per-arm latency, tokens/s, reported speedup, unique answers and answer entropy compare on equal
 * draws. Thresholds: no arm without traffic, error rate, p95, and each arm's minSpeedup.
 *   k6 run -e BASE_URL=... -e ARMS='[{"policy":"none"},{"policy":"latency-budget","targetSpeedup":1.3,"minSpeedup":1.1}]' load-tests/k6/policies.ts
 */
import exec from 'k6/execution';
import { promptAt } from '../shared/prompts.ts';
import { armsForIteration, scenarioNamed } from '../shared/scenarios.ts';
import { cfg, resolveTarget, scenarioOptions, type SetupData } from './lib/common.ts';
import { chatOnce } from './lib/http-chat.ts';

const scenario = scenarioNamed('policies');
export const options = scenarioOptions(cfg.arms);

export function setup(): SetupData {
  return resolveTarget(cfg.arms.map((a) => a.policy));
}

export default function (data: SetupData): void {
  const i = exec.scenario.iterationInTest;
  for (const arm of armsForIteration(scenario, cfg.arms, i)) chatOnce(data.model, promptAt(i, cfg.tier), arm, i);
}
