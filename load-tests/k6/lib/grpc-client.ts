/**
 * The k6 gRPC client for skipserve.v1.Inference, one connection per VU. Each scenario script loads
 * the proto itself (`loadProto()` in its init context), so the relative path resolves from
 * load-tests/k6/ whether k6 takes it relative to the main script or to the calling module.
 */
import grpc from 'k6/net/grpc';
import { GRPC_SERVER_ERROR_CODES } from '../../shared/scenarios.ts';
import { cfg } from './common.ts';

export const client = new grpc.Client();

/** Loads proto/skipserve/v1/inference.proto; `protoRoot` is the repo's proto/ relative to the script (PROTO_DIR overrides). */
export function loadProto(protoRoot: string): void {
  client.load([__ENV.PROTO_DIR || protoRoot], 'skipserve/v1/inference.proto');
}

let connected = false;

/** Connects this VU's client on first use (plaintext; put TLS in front with an ingress if needed). */
export function ensureConnected(): void {
  if (connected) return;
  client.connect(cfg.grpcAddr, { plaintext: true, timeout: '30s' });
  connected = true;
}

/** Call parameters: bearer metadata when API_KEY is set, a generous deadline, the arm tag. */
export function callParams(arm: string): { metadata: Record<string, string>; timeout: string; tags: Record<string, string> } {
  const metadata: Record<string, string> = {};
  if (cfg.apiKey) metadata.authorization = `Bearer ${cfg.apiKey}`;
  return { metadata, timeout: '300s', tags: { arm } };
}

/** True for statuses that mean the server failed (gRPC's 5xx). */
export function isServerError(status: number): boolean {
  return GRPC_SERVER_ERROR_CODES.includes(status);
}

export { grpc };
