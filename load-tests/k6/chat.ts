/**
 * k6 scenario `chat`: non-streaming POST /v1/chat/completions; iteration i uses arm i mod |ARMS|.
 *   k6 run -e BASE_URL=http://skipserve.staging:8000 -e RATE=2 -e DURATION=120 load-tests/k6/chat.ts
 */
import exec from 'k6/execution';
import { promptAt } from '../shared/prompts.ts';
import { armsForIteration, scenarioNamed } from '../shared/scenarios.ts';
import { cfg, resolveTarget, scenarioOptions, type SetupData } from './lib/common.ts';
import { chatOnce } from './lib/http-chat.ts';

const scenario = scenarioNamed('chat');
export const options = scenarioOptions(cfg.arms);

export function setup(): SetupData {
  return resolveTarget(cfg.arms.map((a) => a.policy));
}

export default function (data: SetupData): void {
  const i = exec.scenario.iterationInTest;
  for (const arm of armsForIteration(scenario, cfg.arms, i)) chatOnce(data.model, promptAt(i, cfg.tier), arm, i);
}
