/**
 * k6 scenario `grpc-stream`: server-streaming skipserve.v1.Inference/GenerateStream; time to first
 * token and inter-token latency from the per-candidate deltas, facts from the final message.
 *   k6 run -e BASE_URL=http://skipserve.staging:8000 -e GRPC_ADDR=skipserve.staging:50051 load-tests/k6/grpc-stream.ts
 */
import { check } from 'k6';
import exec from 'k6/execution';
import type { GrpcError } from 'k6/net/grpc';
import { promptAt } from '../shared/prompts.ts';
import { grpcGenerateRequest } from '../shared/requests.ts';
import { StreamTracker } from '../shared/responses.ts';
import { armsForIteration, GRPC_METHOD, scenarioNamed } from '../shared/scenarios.ts';
import { cfg, metrics, record, resolveTarget, scenarioOptions, type SetupData } from './lib/common.ts';
import { callParams, client, ensureConnected, grpc, isServerError, loadProto } from './lib/grpc-client.ts';

const scenario = scenarioNamed('grpc-stream');
loadProto('../../proto');
export const options = scenarioOptions(cfg.arms);

export function setup(): SetupData {
  return resolveTarget(cfg.arms.map((a) => a.policy));
}

export default function (data: SetupData): void {
  ensureConnected();
  const i = exec.scenario.iterationInTest;
  const prompt = promptAt(i, cfg.tier);
  for (const arm of armsForIteration(scenario, cfg.arms, i)) {
    const label = arm?.name ?? 'unassigned';
    const start = Date.now();
    const tracker = new StreamTracker(start);
    let status = grpc.StatusOK;
    let finished = false;
    const stream = new grpc.Stream(client, GRPC_METHOD.generateStream, callParams(label));
    // Recorded once, on 'end' or on 'error', whichever comes (k6 may emit both).
    const finish = () => {
      if (finished) return;
      finished = true;
      const ok = status === grpc.StatusOK && tracker.done;
      check(tracker, { 'stream ended with a final message': (t) => t.done });
      record(label, ok, isServerError(status), Date.now() - start, ok ? tracker.facts(prompt.answer) : null);
      if (ok && tracker.ttftMs !== undefined) metrics.ttft.add(tracker.ttftMs, { arm: label });
      for (const gap of tracker.itlMs) metrics.itl.add(gap, { arm: label });
    };
    stream.on('data', (message) => tracker.onGrpcMessage(message, Date.now()));
    stream.on('error', (err) => {
      status = (err as GrpcError).code ?? grpc.StatusUnknown;
      finish();
    });
    stream.on('end', finish);
    stream.write(grpcGenerateRequest({ ...cfg, model: data.model }, prompt, arm, i));
    stream.end();
  }
}
