/**
 * k6 scenario `grpc`: unary skipserve.v1.Inference/Generate (k6/net/grpc with the repo's proto);
 * iteration i uses arm i mod |ARMS|.
 *   k6 run -e BASE_URL=http://skipserve.staging:8000 -e GRPC_ADDR=skipserve.staging:50051 load-tests/k6/grpc.ts
 */
import { check } from 'k6';
import exec from 'k6/execution';
import { promptAt } from '../shared/prompts.ts';
import { grpcGenerateRequest } from '../shared/requests.ts';
import { resultFacts } from '../shared/responses.ts';
import { armsForIteration, GRPC_METHOD, scenarioNamed } from '../shared/scenarios.ts';
import { cfg, record, resolveTarget, scenarioOptions, type SetupData } from './lib/common.ts';
import { callParams, client, ensureConnected, grpc, isServerError, loadProto } from './lib/grpc-client.ts';

const scenario = scenarioNamed('grpc');
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
    const res = client.invoke(GRPC_METHOD.generate, grpcGenerateRequest({ ...cfg, model: data.model }, prompt, arm, i), callParams(label));
    const elapsed = Date.now() - start;
    const ok = res.status === grpc.StatusOK;
    check(res, { 'status is OK': (r) => r.status === grpc.StatusOK });
    record(label, ok, isServerError(res.status), elapsed, ok ? resultFacts(res.message, prompt.answer) : null);
  }
}
