/**
 * Part "fuzz-grpc": sends the generated raw protobuf cases (fuzz-grpc-cases.ts) through grpc-js
 * clients with identity serializers, so malformed bytes reach the server as they are. Counts
 * crashes, server-error codes (INTERNAL, UNKNOWN, DATA_LOSS), hangs, invalid input answered OK, and
 * how many INVALID_ARGUMENT details name the field at fault.
 */
import * as grpc from '@grpc/grpc-js';
import { grpcCases, type GrpcCase } from './fuzz-grpc-cases.ts';
import { namesField, type FuzzHttpOptions } from './fuzz-http.ts';
import { pct, percentile, row, zeroRow, type PartResult } from './report.ts';
import { getStatus, type ServerUnderTest } from './server-process.ts';

/** The same knobs as the HTTP part, less the body-limit probe. */
export type FuzzGrpcOptions = Omit<FuzzHttpOptions, 'bodyProbeBytes'>;

/** Codes that mean the server failed (the gRPC equivalent of a 5xx). */
export const SERVER_ERROR_CODES = [grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.DATA_LOSS];
const PATH = '/skipserve.v1.Inference/';
const identity = (b: Buffer) => b;

type CallResult = { code: number; details: string; ms: number; messages: number; metadata: grpc.Metadata | null };

/** One raw call: unary or server-streaming, bounded by a deadline `hangMs` away. */
export function rawCall(client: grpc.Client, k: Pick<GrpcCase, 'method' | 'bytes'>, hangMs: number, md = new grpc.Metadata()): Promise<CallResult> {
  const t0 = performance.now();
  const deadline = Date.now() + hangMs;
  return new Promise((resolve) => {
    if (k.method === 'GenerateStream') {
      let messages = 0;
      const call = client.makeServerStreamRequest(PATH + k.method, identity, identity, k.bytes, md, { deadline });
      call.on('data', () => messages++);
      call.on('error', (e: grpc.ServiceError) => resolve({ code: e.code, details: e.details ?? e.message, ms: performance.now() - t0, messages, metadata: e.metadata ?? null }));
      call.on('status', (s: grpc.StatusObject) => s.code === grpc.status.OK && resolve({ code: 0, details: '', ms: performance.now() - t0, messages, metadata: s.metadata }));
      return;
    }
    client.makeUnaryRequest(PATH + k.method, identity, identity, k.bytes, md, { deadline }, (err: grpc.ServiceError | null) =>
      resolve(err ? { code: err.code, details: err.details ?? err.message, ms: performance.now() - t0, messages: 0, metadata: err.metadata ?? null } : { code: 0, details: '', ms: performance.now() - t0, messages: 1, metadata: null }),
    );
  });
}

type Sample = { what: string; category: string; got: string; hex?: string };
const keep = (list: Sample[], s: Sample) => list.length < 12 && list.push(s);

/** Runs the gRPC fuzz against a running server. */
export async function fuzzGrpc(server: ServerUnderTest, o: FuzzGrpcOptions): Promise<PartResult> {
  const P = 'fuzz-grpc';
  const cases = grpcCases(o.limits, o.cases, o.seed);
  const c = { sent: 0, ok: 0, serverErrors: 0, deserializeInternal: 0, hangs: 0, valid: 0, validOk: 0, accepted: 0, invalidArgument: 0, fieldCasesInvalid: 0, namesAField: 0, namesRightField: 0, oversized: 0, oversizedExhausted: 0, healthFailures: 0 };
  const byCode: Record<string, number> = {};
  const samples = { serverErrors: [] as Sample[], hangs: [] as Sample[], accepted: [] as Sample[], wrongField: [] as Sample[], validFailed: [] as Sample[] };
  const latencies: number[] = [];
  const acceptedBy: Record<string, number> = {};
  const deadline = Date.now() + o.maxSeconds * 1000;
  let next = 0;
  let crashed = false;
  const options = { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 };

  const judge = (k: GrpcCase, r: CallResult) => {
    const name = grpc.status[r.code] ?? String(r.code);
    byCode[name] = (byCode[name] ?? 0) + 1;
    latencies.push(r.ms);
    if (k.category === 'valid') c.valid++;
    if (k.category === 'oversized') {
      c.oversized++;
      if (r.code === grpc.status.RESOURCE_EXHAUSTED) c.oversizedExhausted++;
    }
    if (r.code === grpc.status.DEADLINE_EXCEEDED && r.ms >= o.hangMs - 50) {
      c.hangs++;
      keep(samples.hangs, { what: k.what, category: k.category, got: `no answer in ${o.hangMs} ms`, hex: k.bytes.subarray(0, 200).toString('hex') });
      return;
    }
    if (SERVER_ERROR_CODES.includes(r.code)) {
      c.serverErrors++;
      if (/deserializ/i.test(r.details)) c.deserializeInternal++;
      keep(samples.serverErrors, { what: k.what, category: k.category, got: `${name}: ${r.details.slice(0, 160)}`, hex: k.bytes.subarray(0, 200).toString('hex') });
      return;
    }
    if (r.code === grpc.status.OK) {
      c.ok++;
      if (k.category === 'valid') c.validOk++;
      if (k.mustReject) {
        c.accepted++;
        const what = k.what.split(/ = | of /)[0]!;
        acceptedBy[what] = (acceptedBy[what] ?? 0) + 1;
        keep(samples.accepted, { what: k.what, category: k.category, got: 'OK' });
      }
      return;
    }
    if (k.category === 'valid') keep(samples.validFailed, { what: k.what, category: k.category, got: `${name}: ${r.details.slice(0, 120)}` });
    if (r.code === grpc.status.INVALID_ARGUMENT) c.invalidArgument++;
    if (k.field !== null && (r.code === grpc.status.INVALID_ARGUMENT || r.code === grpc.status.NOT_FOUND || r.code === grpc.status.FAILED_PRECONDITION)) {
      c.fieldCasesInvalid++;
      const colon = r.details.indexOf(': ');
      const param = colon > 0 ? r.details.slice(0, colon) : '';
      if (param && !/\s/.test(param)) c.namesAField++;
      if (namesField(param, k.field)) c.namesRightField++;
      else keep(samples.wrongField, { what: k.what, category: k.category, got: `${name}: ${r.details.slice(0, 120)} (expected ${k.field})` });
    }
  };

  const worker = async () => {
    const client = new grpc.Client(server.grpc, grpc.credentials.createInsecure(), options);
    try {
      while (!crashed && Date.now() < deadline) {
        const i = next++;
        if (i >= cases.length) return;
        const k = cases[i]!;
        c.sent++;
        judge(k, await rawCall(client, k, o.hangMs));
        if (server.exit()) crashed = true;
        if (i % 250 === 249 && (await getStatus(server.http, '/health', o.hangMs)) !== 200) c.healthFailures++;
      }
    } finally {
      client.close();
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  if (!server.exit() && (await getStatus(server.http, '/health', o.hangMs)) !== 200) c.healthFailures++;
  const crashes = server.exit() ? 1 : 0;

  const rows = [
    row(P, 'requests sent', c.sent, `>= ${o.cases}`, c.sent >= o.cases),
    zeroRow(P, 'server crashes', crashes),
    zeroRow(P, 'INTERNAL / UNKNOWN / DATA_LOSS answers', c.serverErrors),
    row(P, '... of which malformed protobuf answered INTERNAL by grpc-js ("Error deserializing request")', c.deserializeInternal, '0', c.deserializeInternal === 0),
    zeroRow(P, `hangs (no answer in ${o.hangMs / 1000} s)`, c.hangs),
    zeroRow(P, '/health failures between batches', c.healthFailures, false),
    row(P, 'valid requests answered OK', pct(c.validOk, c.valid), '100%', c.validOk === c.valid),
    row(P, 'invalid requests accepted (OK)', pct(c.accepted, cases.filter((k) => k.mustReject).length), '0', c.accepted === 0),
    row(P, 'oversized messages (> 4 MiB) answered RESOURCE_EXHAUSTED', pct(c.oversizedExhausted, c.oversized), '100%', c.oversizedExhausted === c.oversized),
    row(P, 'INVALID_ARGUMENT / NOT_FOUND naming a field, where a field is at fault', pct(c.namesAField, c.fieldCasesInvalid), '100%', c.namesAField === c.fieldCasesInvalid),
    row(P, '... naming the right field', pct(c.namesRightField, c.fieldCasesInvalid), '100%', c.namesRightField === c.fieldCasesInvalid),
    row(P, 'status codes', Object.entries(byCode).map(([k, v]) => `${k} ${v}`).join(', ')),
    row(P, 'response latency p50 / p99 / max', `${percentile(latencies, 50).toFixed(0)} / ${percentile(latencies, 99).toFixed(0)} / ${Math.max(0, ...latencies).toFixed(0)} ms`),
  ];
  return { part: P, rows, details: { counts: c, acceptedBy, byCode, samples, seconds } };
}
