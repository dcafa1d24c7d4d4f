/**
 * k6 scenario `chat-stream`: POST /v1/chat/completions with stream=true through the xk6-sse
 * extension, so time to first token and inter-token latency come from the SSE events themselves
 * (k6/http only returns a body once it is complete). Iteration i uses arm i mod |ARMS|.
 *   k6 run -e BASE_URL=http://skipserve.staging:8000 -e RATE=1 -e DURATION=120 load-tests/k6/chat-stream.ts
 */
import { check } from 'k6';
import exec from 'k6/execution';
import sse from 'k6/x/sse';
import { httpHeaders } from '../shared/config.ts';
import { promptAt } from '../shared/prompts.ts';
import { chatBody } from '../shared/requests.ts';
import { StreamTracker } from '../shared/responses.ts';
import { armsForIteration, scenarioNamed } from '../shared/scenarios.ts';
import { cfg, metrics, record, resolveTarget, scenarioOptions, type SetupData } from './lib/common.ts';

const scenario = scenarioNamed('chat-stream');
export const options = scenarioOptions(cfg.arms);

export function setup(): SetupData {
  return resolveTarget(cfg.arms.map((a) => a.policy));
}

export default function (data: SetupData): void {
  const i = exec.scenario.iterationInTest;
  const prompt = promptAt(i, cfg.tier);
  for (const arm of armsForIteration(scenario, cfg.arms, i)) {
    const body = chatBody({ ...cfg, model: data.model }, prompt, arm, i, true);
    const start = Date.now();
    const tracker = new StreamTracker(start);
    let failed = false;
    const res = sse.open(
      `${cfg.baseUrl}/v1/chat/completions`,
      { method: 'POST', body: JSON.stringify(body), headers: httpHeaders(cfg), tags: { name: 'chat-stream', arm: arm?.name ?? 'sticky' } },
      (client) => {
        client.on('event', (event) => {
          tracker.onSseData(event.data, Date.now());
          if (tracker.done) client.close();
        });
        client.on('error', () => {
          failed = true;
          client.close();
        });
      },
    );
    const elapsed = Date.now() - start;
    const ok = res.status === 200 && !failed && tracker.done;
    check(res, { 'status is 200': (r) => r.status === 200, 'stream ended with [DONE]': () => tracker.done });
    const label = arm?.name ?? 'unassigned';
    const facts = ok ? tracker.facts(prompt.answer) : null;
    record(label, ok, res.status >= 500 || res.status === 0, elapsed, facts);
    if (ok && tracker.ttftMs !== undefined) metrics.ttft.add(tracker.ttftMs, { arm: label });
    for (const gap of tracker.itlMs) metrics.itl.add(gap, { arm: label });
  }
}
