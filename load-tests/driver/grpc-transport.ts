/** gRPC transport of the driver: skipserve.v1.Inference Generate / GenerateStream with @grpc/grpc-js. */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { LoadConfig } from '../shared/config.ts';
import { grpcGenerateRequest } from '../shared/requests.ts';
import { resultFacts, StreamTracker } from '../shared/responses.ts';
import { GRPC_SERVER_ERROR_CODES } from '../shared/scenarios.ts';
import type { Sample, Send } from './types.ts';

const PROTO_DIR = join(import.meta.dirname, '..', '..', 'proto');

type Unary = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: object) => void) => grpc.ClientUnaryCall;
type ServerStream = (req: object, md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientReadableStream<object>;
interface InferenceClient extends grpc.Client {
  Generate: Unary;
  GenerateStream: ServerStream;
}

/** Loads the proto and connects one client (one HTTP/2 channel) to cfg.grpcAddr. */
export function grpcClient(cfg: LoadConfig): InferenceClient {
  const def = protoLoader.loadSync('skipserve/v1/inference.proto', { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { skipserve: { v1: { Inference: new (addr: string, creds: grpc.ChannelCredentials) => InferenceClient } } };
  return new pkg.skipserve.v1.Inference(cfg.grpcAddr, grpc.credentials.createInsecure());
}

/** A Send for Generate (unary) or GenerateStream (server streaming). */
export function grpcSender(cfg: LoadConfig, client: InferenceClient, stream: boolean): Send {
  return (req, signal) =>
    new Promise<Sample>((resolve) => {
      const label = req.arm?.name ?? 'unassigned';
      const startMs = performance.now();
      const sample: Sample = { arm: label, ok: false, serverError: false, status: 'OK', cut: false, startMs, durationMs: 0, itlMs: [], callerKey: req.callerKey };
      const md = new grpc.Metadata();
      if (cfg.apiKey) md.set('authorization', `Bearer ${cfg.apiKey}`);
      if (req.callerKey) md.set('x-skipserve-key', req.callerKey);
      const message = grpcGenerateRequest(cfg, req.prompt, req.arm, req.iteration);
      const finish = (err: grpc.ServiceError | null) => {
        if (err) {
          sample.ok = false;
          sample.status = grpc.status[err.code] ?? String(err.code);
          sample.cut = signal.aborted && err.code === grpc.status.CANCELLED;
          sample.serverError = GRPC_SERVER_ERROR_CODES.includes(err.code);
          sample.error = err.details?.slice(0, 200) || err.message.slice(0, 200);
        }
        sample.durationMs = performance.now() - startMs;
        if (!req.arm && sample.facts?.arm) sample.arm = sample.facts.arm;
        signal.removeEventListener('abort', onAbort);
        resolve(sample);
      };
      let call: grpc.ClientUnaryCall | grpc.ClientReadableStream<object>;
      const onAbort = () => call.cancel();
      if (!stream) {
        call = client.Generate(message, md, {}, (err, res) => {
          if (!err) {
            sample.facts = resultFacts(res, req.prompt.answer);
            sample.ok = sample.facts.policy !== undefined;
            if (!sample.ok) sample.error = 'OK without a skip summary';
          }
          finish(err);
        });
      } else {
        const tracker = new StreamTracker(startMs);
        const s = client.GenerateStream(message, md, {});
        call = s;
        let failed: grpc.ServiceError | null = null;
        s.on('data', (m: object) => tracker.onGrpcMessage(m, performance.now()));
        s.on('error', (err: grpc.ServiceError) => {
          failed = err;
        });
        // 'status' fires exactly once, after the last message (and after 'error' on failure).
        s.on('status', () => {
          if (!failed) {
            sample.ok = tracker.done;
            if (!tracker.done) sample.error = 'stream closed without a final message';
            sample.facts = tracker.facts(req.prompt.answer);
            sample.ttftMs = tracker.ttftMs;
            sample.itlMs = tracker.itlMs;
          }
          finish(failed);
        });
      }
      signal.addEventListener('abort', onAbort, { once: true });
    });
}
