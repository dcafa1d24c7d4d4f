/**
 * The load scenarios, shared by the k6 scripts (one file each under load-tests/k6/) and the Node
 * driver (`npm run load -- --scenario NAME`): what each sends and to which arms. No Node or k6 APIs.
 */
import type { LoadArm } from './arms.ts';

export type Transport = 'http' | 'grpc';

/** One scenario: transport, streaming, and how iterations map to policy arms. */
export interface Scenario {
  name: string;
  transport: Transport;
  stream: boolean;
  /**
   * rotate: iteration i sends one request with arm i mod |arms|;
   * paired: iteration i sends the same prompt and seed to every arm (policy comparison);
   * sticky: no policy in the request; the server's A/B split picks the arm per x-skipserve-key.
   */
  arms: 'rotate' | 'paired' | 'sticky';
  description: string;
}

export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  chat: { name: 'chat', transport: 'http', stream: false, arms: 'rotate', description: 'POST /v1/chat/completions, non-streaming' },
  'chat-stream': {
    name: 'chat-stream',
    transport: 'http',
    stream: true,
    arms: 'rotate',
    description: 'POST /v1/chat/completions with stream=true: TTFT and inter-token latency from the SSE stream',
  },
  grpc: { name: 'grpc', transport: 'grpc', stream: false, arms: 'rotate', description: 'skipserve.v1.Inference/Generate (unary)' },
  'grpc-stream': {
    name: 'grpc-stream',
    transport: 'grpc',
    stream: true,
    arms: 'rotate',
    description: 'skipserve.v1.Inference/GenerateStream: TTFT and inter-token latency from the deltas',
  },
  policies: {
    name: 'policies',
    transport: 'http',
    stream: false,
    arms: 'paired',
    description: 'the same prompt and seed to every policy arm; per-arm latency, tokens/s, speedup, diversity',
  },
  ab: {
    name: 'ab',
    transport: 'http',
    stream: false,
    arms: 'sticky',
    description: "no policy sent: the server's A/B arms split callers (x-skipserve-key); checks stickiness",
  },
};

/** The scenario named `name`, or an error listing the known ones. */
export function scenarioNamed(name: string): Scenario {
  const s = SCENARIOS[name];
  if (!s) throw new Error(`scenario '${name}' is unknown (one of ${Object.keys(SCENARIOS).join(', ')})`);
  return s;
}

/** The arms iteration `i` sends to: one (rotate), all (paired) or [null] (sticky: the server decides). */
export function armsForIteration(s: Scenario, arms: readonly LoadArm[], i: number): Array<LoadArm | null> {
  if (s.arms === 'sticky') return [null];
  if (s.arms === 'paired') return [...arms];
  return [arms[i % arms.length]!];
}

/** gRPC full method names, as k6 and grpc-js address them. */
export const GRPC_METHOD = {
  generate: 'skipserve.v1.Inference/Generate',
  generateStream: 'skipserve.v1.Inference/GenerateStream',
} as const;

/** gRPC status codes that count as server errors (the 5xx of gRPC). */
export const GRPC_SERVER_ERROR_CODES: readonly number[] = [2, 13, 15];
