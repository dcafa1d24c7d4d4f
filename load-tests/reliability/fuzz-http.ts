/**
 * Part "fuzz-http": sends the generated HTTP cases (fuzz-http-cases.ts) over raw sockets, a few at
 * a time, and counts crashes, 5xx, hangs, dropped connections, invalid input that was accepted,
 * and how many 4xx bodies name the field at fault (`error.param`).
 */
import { httpCases, type FuzzLimits, type HttpCase } from './fuzz-http-cases.ts';
import { exchange, requestBytes, type RawOutcome } from './raw-http.ts';
import { pct, percentile, row, zeroRow, type PartResult } from './report.ts';
import { getStatus, type ServerUnderTest } from './server-process.ts';

export interface FuzzHttpOptions {
  cases: number;
  seed: number;
  concurrency: number;
  /** A response slower than this is a hang. */
  hangMs: number;
  limits: FuzzLimits;
  /** Stop sending after this many seconds (the loop is bounded in time as well as count). */
  maxSeconds: number;
  /** Size of the one oversized body sent at the end (the body limit probe). */
  bodyProbeBytes: number;
}

/** Sends one body of `bytes` while polling /health; a server with a body limit refuses it at once. */
async function bodyLimitProbe(server: ServerUnderTest, host: string, port: number, bytes: number, hangMs: number) {
  const text = `{"max_tokens":2,"prompt":"${'ab '.repeat(Math.ceil(bytes / 3)).slice(0, bytes)}"}`;
  const request = { method: 'POST', path: '/v1/completions', headers: [['Content-Type', 'application/json'], ['Content-Length', String(Buffer.byteLength(text))]] as [string, string][], body: Buffer.from(text) };
  let done = false;
  const health: number[] = [];
  const poll = (async () => {
    while (!done) {
      const t = performance.now();
      await getStatus(server.http, '/health', hangMs);
      health.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const r = await exchange(host, port, requestBytes(`${host}:${port}`, request), hangMs * 4);
  done = true;
  await poll;
  return { status: r.kind === 'response' ? r.status : r.kind, ms: r.ms, healthMaxMs: Math.max(0, ...health) };
}

interface ErrorBody {
  error?: { message?: unknown; type?: unknown; param?: unknown; code?: unknown };
}

/** True when `param` names the expected field (equal, or one is a path prefix of the other). */
export function namesField(param: unknown, expected: string): boolean {
  if (typeof param !== 'string' || !param) return false;
  const under = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || a.startsWith(`${b}[`);
  return under(param, expected) || under(expected, param);
}

function parseError(o: Extract<RawOutcome, { kind: 'response' }>): ErrorBody | null {
  if (!/json/i.test(o.headers['content-type'] ?? '')) return null;
  try {
    return JSON.parse(o.body.toString('utf8')) as ErrorBody;
  } catch {
    return null;
  }
}

type Sample = { what: string; category: string; got: string };
const keep = (list: Sample[], s: Sample) => list.length < 12 && list.push(s);

/** Runs the HTTP fuzz against a running server. */
export async function fuzzHttp(server: ServerUnderTest, o: FuzzHttpOptions): Promise<PartResult> {
  const P = 'fuzz-http';
  const url = new URL(server.http);
  const host = url.hostname;
  const port = Number(url.port);
  const cases = httpCases(o.limits, o.cases, o.seed);
  const c = { sent: 0, responses: 0, s5xx: 0, hangs: 0, dropped: 0, droppedTransport: 0, s2xx: 0, s4xx: 0, validOk: 0, valid: 0, accepted: 0, openAi4xx: 0, app4xx: 0, parser4xx: 0, fieldCases4xx: 0, namesAField: 0, namesRightField: 0, healthFailures: 0 };
  const byStatus: Record<string, number> = {};
  const byCategory: Record<string, number> = {};
  const samples = { s5xx: [] as Sample[], hangs: [] as Sample[], dropped: [] as Sample[], accepted: [] as Sample[], wrongField: [] as Sample[], noField: [] as Sample[] };
  const latencies: number[] = [];
  const acceptedBy: Record<string, number> = {};
  const deadline = Date.now() + o.maxSeconds * 1000;
  let next = 0;
  let crashed = false;

  const slowest: { i: number; what: string; category: string; ms: number; startMs: number }[] = [];
  const judge = (k: HttpCase, r: RawOutcome) => {
    byCategory[k.category] = (byCategory[k.category] ?? 0) + 1;
    if (k.category === 'valid') c.valid++;
    if (r.kind === 'timeout') {
      c.hangs++;
      keep(samples.hangs, { what: k.what, category: k.category, got: `no answer in ${o.hangMs} ms` });
      return;
    }
    if (r.kind !== 'response') {
      if (k.category === 'transport') c.droppedTransport++;
      else {
        c.dropped++;
        keep(samples.dropped, { what: k.what, category: k.category, got: r.kind === 'error' ? r.message : 'closed without a response' });
      }
      return;
    }
    c.responses++;
    latencies.push(r.ms);
    byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    const body = r.status >= 400 ? parseError(r) : null;
    if (r.status >= 500) {
      c.s5xx++;
      keep(samples.s5xx, { what: k.what, category: k.category, got: `${r.status} ${r.body.toString('utf8').slice(0, 200)}` });
    } else if (r.status >= 200 && r.status < 300) {
      c.s2xx++;
      if (k.category === 'valid') c.validOk++;
      if (k.mustReject) {
        c.accepted++;
        const what = k.what.split(/ = | of /)[0]!;
        acceptedBy[what] = (acceptedBy[what] ?? 0) + 1;
        keep(samples.accepted, { what: k.what, category: k.category, got: String(r.status) });
      }
    } else if (r.status >= 400) {
      c.s4xx++;
      if (body) {
        c.app4xx++;
        const e = body.error;
        if (e && typeof e.message === 'string' && typeof e.type === 'string' && 'param' in e && 'code' in e) c.openAi4xx++;
      } else c.parser4xx++;
      if (k.field !== null && body) {
        c.fieldCases4xx++;
        const param = body.error?.param;
        if (typeof param === 'string' && param) c.namesAField++;
        else keep(samples.noField, { what: k.what, category: k.category, got: `${r.status} param=${JSON.stringify(param)} ${String(body.error?.message).slice(0, 120)}` });
        if (namesField(param, k.field)) c.namesRightField++;
        else if (typeof param === 'string' && param) keep(samples.wrongField, { what: k.what, category: k.category, got: `param=${param}, expected ${k.field}` });
      }
    }
  };

  const t0 = performance.now();
  const worker = async () => {
    while (!crashed && Date.now() < deadline) {
      const i = next++;
      if (i >= cases.length) return;
      const k = cases[i]!;
      c.sent++;
      const startMs = performance.now() - t0;
      const r = await exchange(host, port, requestBytes(`${host}:${port}`, k.request), o.hangMs, k.halfClose);
      judge(k, r);
      slowest.push({ i, what: k.what.slice(0, 80), category: k.category, ms: Math.round(r.ms), startMs: Math.round(startMs) });
      slowest.sort((a, b) => b.ms - a.ms);
      if (slowest.length > 15) slowest.pop();
      if (server.exit()) crashed = true;
      if (i % 250 === 249 && (await getStatus(server.http, '/health', o.hangMs)) !== 200) c.healthFailures++;
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  if (!server.exit() && (await getStatus(server.http, '/health', o.hangMs)) !== 200) c.healthFailures++;
  const probe = server.exit() ? null : await bodyLimitProbe(server, host, port, o.bodyProbeBytes, o.hangMs);
  const crashes = server.exit() ? 1 : 0;
  const mib = (o.bodyProbeBytes / 2 ** 20).toFixed(0);

  const rows = [
    row(P, 'requests sent', c.sent, `>= ${o.cases}`, c.sent >= o.cases),
    zeroRow(P, 'server crashes', crashes),
    zeroRow(P, '5xx responses', c.s5xx),
    zeroRow(P, `hangs (no answer in ${o.hangMs / 1000} s)`, c.hangs),
    zeroRow(P, 'well-formed requests dropped without a response', c.dropped, false),
    zeroRow(P, '/health failures between batches', c.healthFailures, false),
    row(P, 'valid requests answered 2xx', pct(c.validOk, c.valid), '100%', c.validOk === c.valid),
    row(P, 'invalid requests accepted (2xx)', pct(c.accepted, cases.filter((k) => k.mustReject).length), '0', c.accepted === 0),
    row(P, '4xx with an OpenAI error body', pct(c.openAi4xx, c.app4xx), '100%', c.openAi4xx === c.app4xx),
    row(P, '4xx refused by the HTTP parser (no body: bad framing/headers)', c.parser4xx),
    row(P, '4xx naming a field, where a field is at fault', pct(c.namesAField, c.fieldCases4xx), '100%', c.namesAField === c.fieldCases4xx),
    row(P, '4xx naming the right field, where a field is at fault', pct(c.namesRightField, c.fieldCases4xx), '100%', c.namesRightField === c.fieldCases4xx),
    row(P, `a ${mib} MiB body: answer and time`, probe ? `${probe.status} after ${probe.ms.toFixed(0)} ms` : 'not sent', '413 (body limit) within 1000 ms', probe?.status === 413 && probe.ms <= 1000),
    row(P, `/health latency while the ${mib} MiB body is handled (max)`, probe ? `${probe.healthMaxMs.toFixed(0)} ms` : '-', '<= 250 ms', (probe?.healthMaxMs ?? Infinity) <= 250),
    row(P, 'response latency p50 / p99 / max', `${percentile(latencies, 50).toFixed(0)} / ${percentile(latencies, 99).toFixed(0)} / ${Math.max(0, ...latencies).toFixed(0)} ms`),
    row(P, 'throughput', `${(c.sent / seconds).toFixed(1)} req/s over ${seconds.toFixed(0)} s`),
  ];
  return { part: P, rows, details: { counts: c, slowest, acceptedBy, byStatus, byCategory, samples, seconds, bodyProbe: probe } };
}
