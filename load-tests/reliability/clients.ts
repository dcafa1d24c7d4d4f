/**
 * The well-behaved clients the load parts use: HTTP through fetch (non-streamed or SSE) and gRPC
 * through a grpc-js client generated from the repository's proto (the public contract, so the
 * harness stays a black box). Every call carries a timeout.
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { REPO_ROOT } from './server-process.ts';

type UnaryFn = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: GenerateResponse) => void) => grpc.ClientUnaryCall;
type StreamFn = (req: object, md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientReadableStream<{ delta?: unknown; final?: GenerateResponse }>;

/** The parts of skipserve.v1.GenerateResponse the harness reads. */
export interface GenerateResponse {
  candidates: { text: string; token_ids: number[]; finish_reason: string }[];
  usage?: { completion_tokens: number };
}

export interface InferenceClient extends grpc.Client {
  Generate: UnaryFn;
  GenerateStream: StreamFn;
}

let ctor: (new (addr: string, creds: grpc.ChannelCredentials, opts?: grpc.ClientOptions) => InferenceClient) | null = null;

/** A client of skipserve.v1.Inference on `addr` (host:port). */
export function inferenceClient(addr: string): InferenceClient {
  if (!ctor) {
    const def = protoLoader.loadSync('skipserve/v1/inference.proto', { includeDirs: [join(REPO_ROOT, 'proto')], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
    ctor = (grpc.loadPackageDefinition(def) as unknown as { skipserve: { v1: { Inference: typeof ctor } } }).skipserve.v1.Inference;
  }
  return new ctor!(addr, grpc.credentials.createInsecure());
}

export interface HttpResult {
  status: number;
  ms: number;
  headers: Headers | null;
  /** Parsed JSON body (non-streamed) or null. */
  json: any;
  /** SSE: the data events received, in order. */
  events: string[];
  /** Connection failed or timed out (status 0). */
  error?: string;
}

/** POSTs a completion; with `stream: true` in the body the SSE events are collected until [DONE]. */
export async function postCompletion(http: string, body: object, timeoutMs: number, signal?: AbortSignal): Promise<HttpResult> {
  const t0 = performance.now();
  const s = signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
  try {
    const res = await fetch(`${http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: s });
    const text = await res.text();
    const events = /event-stream/.test(res.headers.get('content-type') ?? '') ? text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)) : [];
    let json: any = null;
    if (!events.length) {
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
    }
    return { status: res.status, ms: performance.now() - t0, headers: res.headers, json, events };
  } catch (err) {
    return { status: 0, ms: performance.now() - t0, headers: null, json: null, events: [], error: (err as Error).message };
  }
}

export interface GrpcResult {
  code: number;
  ms: number;
  details: string;
  metadata: grpc.Metadata | null;
  response: GenerateResponse | null;
}

/** One unary Generate with a deadline. */
export function grpcGenerate(client: InferenceClient, req: object, timeoutMs: number): Promise<GrpcResult> {
  const t0 = performance.now();
  return new Promise((resolve) =>
    client.Generate(req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
      resolve(err ? { code: err.code, ms: performance.now() - t0, details: err.details ?? err.message, metadata: err.metadata ?? null, response: null } : { code: 0, ms: performance.now() - t0, details: '', metadata: null, response: res ?? null }),
    ),
  );
}

/** One GenerateStream read to the end; resolves with the final message (or the error). */
export function grpcStream(client: InferenceClient, req: object, timeoutMs: number): Promise<GrpcResult & { messages: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let messages = 0;
    let final: GenerateResponse | null = null;
    const call = client.GenerateStream(req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs });
    call.on('data', (m) => {
      messages++;
      if (m.final) final = m.final;
    });
    call.on('error', (e: grpc.ServiceError) => resolve({ code: e.code, ms: performance.now() - t0, details: e.details ?? e.message, metadata: e.metadata ?? null, response: null, messages }));
    call.on('status', (st: grpc.StatusObject) => st.code === grpc.status.OK && resolve({ code: 0, ms: performance.now() - t0, details: '', metadata: st.metadata, response: final, messages }));
  });
}

/** Sleeps `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Short math prompts, so requests differ without costing long prefills. */
export const PROMPTS = ['Q: 2+3? A:', 'Tom has 3 apples and buys 5 more. How many apples?', 'Q: 12-7? A:', 'A box holds 6 eggs. How many eggs in 4 boxes?', 'Q: 9*3? A:', 'Sara reads 10 pages a day. How many in a week?'];
