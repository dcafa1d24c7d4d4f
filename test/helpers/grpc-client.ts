/** A grpc-js client of skipserve.v1.Inference on loopback, from the server's own proto files. */
import * as grpc from '@grpc/grpc-js';
import { loadProtos } from '../../src/api/grpc/server.ts';

export type InferenceClient = grpc.Client & Record<string, Function>;

export function inferenceClient(port: number): InferenceClient {
  const pkg = grpc.loadPackageDefinition(loadProtos()) as unknown as { skipserve: { v1: { Inference: grpc.ServiceClientConstructor } } };
  return new pkg.skipserve.v1.Inference(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as InferenceClient;
}
