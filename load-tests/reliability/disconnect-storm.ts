/**
 * Part "disconnect-storm": clients that vanish mid-request, mixed across SSE streams, non-streamed
 * HTTP (aborted, or the socket reset), gRPC streams, gRPC unary cancels and gRPC deadlines. Each
 * asks for a long best-of-n generation and vanishes after a random delay (queued or running).
 * Afterwards: how long until running rows and waiting requests read 0 (against the engine step
 * time), the server's RSS growth, and whether skipserve_requests_total counted every request.
 */
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { inferenceClient, PROMPTS, sleep, type InferenceClient } from './clients.ts';
import { row, zeroRow, type PartResult } from './report.ts';
import { metricSum, outcomes, rssBytes, scrape, type ServerUnderTest } from './server-process.ts';

export interface StormOptions {
  clients: number;
  concurrency: number;
  maxTokens: number;
  maxSeconds: number;
  /** Only these client kinds (default: all, round-robin). */
  kinds?: readonly Kind[];
}

const KINDS = ['sse', 'http', 'http-reset', 'grpc-stream', 'grpc-cancel', 'grpc-deadline'] as const;
export type Kind = (typeof KINDS)[number];

interface Client {
  kind: Kind;
  n: number;
  /** Vanish this long after sending (streams: or after `events` events, whichever first). */
  delayMs: number;
  events: number;
  prompt: string;
}

/** What a vanished client knows: when it vanished, and whether the server had acknowledged the request. */
interface Vanished {
  at: number;
  acked: boolean;
}

/**
 * HTTP over a raw socket: the whole request is handed to the kernel before the delay starts, so
 * the server receives it even if it reads late; then the client closes (FIN) or resets (RST) once
 * the delay passed or, for a stream, after `events` SSE events.
 */
function vanishHttp(k: Client, http: string, body: object): Promise<Vanished> {
  const url = new URL(http);
  const stream = k.kind !== 'http';
  const text = JSON.stringify({ ...body, stream });
  return new Promise((resolve) => {
    let acked = false;
    let seen = 0;
    let done = false;
    const sock = connect({ host: url.hostname, port: Number(url.port) });
    const gone = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (k.kind === 'http-reset') sock.resetAndDestroy();
      else sock.destroy();
      resolve({ at: performance.now(), acked });
    };
    let timer: NodeJS.Timeout | undefined;
    sock.on('connect', () => sock.write(`POST /v1/completions HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`, () => (timer = setTimeout(gone, k.delayMs))));
    sock.on('data', (b: Buffer) => {
      if (b.includes('HTTP/1.1 200')) acked = true;
      seen += b.toString('latin1').split('data: ').length - 1;
      if (stream && seen >= k.events) gone();
    });
    sock.on('error', gone);
    sock.on('close', gone);
  });
}

/** Vanishes one client. */
async function vanish(k: Client, http: string, grpcClient: InferenceClient, maxTokens: number): Promise<Vanished> {
  const body = { prompt: k.prompt, n: k.n, max_tokens: maxTokens, ignore_eos: true, temperature: 0.9 };
  if (k.kind === 'sse' || k.kind === 'http' || k.kind === 'http-reset') return vanishHttp(k, http, body);
  if (k.kind === 'grpc-stream') {
    return new Promise((resolve) => {
      const call = grpcClient.GenerateStream(body, new grpc.Metadata(), {});
      let seen = 0;
      const gone = () => {
        clearTimeout(timer);
        call.cancel();
        resolve({ at: performance.now(), acked: seen > 0 });
      };
      const timer = setTimeout(gone, k.delayMs);
      call.on('data', () => ++seen >= k.events && gone());
      call.on('error', () => gone());
    });
  }
  if (k.kind === 'grpc-cancel') {
    return new Promise((resolve) => {
      const call = grpcClient.Generate(body, new grpc.Metadata(), {}, () => {});
      setTimeout(() => {
        call.cancel();
        resolve({ at: performance.now(), acked: false });
      }, k.delayMs);
    });
  }
  return new Promise((resolve) => grpcClient.Generate(body, new grpc.Metadata(), { deadline: Date.now() + k.delayMs }, () => resolve({ at: performance.now(), acked: false })));
}

function clientsFor(count: number, seed: number, kinds: readonly Kind[] = KINDS): Client[] {
  const arb = fc.record({ n: fc.constantFrom(1, 2, 4), delayMs: fc.integer({ min: 100, max: 600 }), events: fc.integer({ min: 1, max: 6 }), prompt: fc.constantFrom(...PROMPTS) });
  return fc.sample(arb, { numRuns: count, seed }).map((c, i) => ({ ...c, kind: kinds[i % kinds.length]! }));
}

async function runClients(server: ServerUnderTest, list: Client[], concurrency: number, maxTokens: number, deadline: number): Promise<{ lastVanish: number; sent: number; acked: number }> {
  const grpcClients = Array.from({ length: 4 }, () => inferenceClient(server.grpc));
  let next = 0;
  let lastVanish = 0;
  let sent = 0;
  let acked = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (performance.now() < deadline) {
        const i = next++;
        if (i >= list.length) return;
        sent++;
        const v = await vanish(list[i]!, server.http, grpcClients[w % grpcClients.length]!, maxTokens);
        lastVanish = Math.max(lastVanish, v.at);
        if (v.acked) acked++;
      }
    }),
  );
  for (const c of grpcClients) c.close();
  return { lastVanish, sent, acked };
}

/** Polls /metrics until running rows and waiting requests are both 0; ms after `since`, NaN past `limitMs`. */
async function timeToIdle(http: string, since: number, limitMs: number): Promise<number> {
  while (performance.now() - since < limitMs) {
    const text = await scrape(http);
    if (metricSum(text, 'skipserve_running_rows') === 0 && metricSum(text, 'skipserve_waiting_requests') === 0) return performance.now() - since;
    await sleep(5);
  }
  return NaN;
}

/** Runs the disconnect storm against a running server. */
export async function disconnectStorm(server: ServerUnderTest, o: StormOptions): Promise<PartResult> {
  const P = 'disconnect-storm';
  const end = performance.now() + o.maxSeconds * 1000;
  // Reference engine step: mean inter-token latency of one full-batch request (8 rows, 32 tokens).
  const ref0 = await scrape(server.http);
  await fetch(`${server.http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: PROMPTS[0], n: 8, max_tokens: 32, ignore_eos: true }) }).then((r) => r.arrayBuffer());
  const ref1 = await scrape(server.http);
  const refStepMs = (1000 * (metricSum(ref1, 'skipserve_inter_token_latency_seconds_sum') - metricSum(ref0, 'skipserve_inter_token_latency_seconds_sum'))) / (metricSum(ref1, 'skipserve_inter_token_latency_seconds_count') - metricSum(ref0, 'skipserve_inter_token_latency_seconds_count'));
  // Warm-up with the same mix, so the RSS baseline includes JIT, pools and KV arenas.
  await runClients(server, clientsFor(Math.min(120, o.clients), 7, o.kinds), o.concurrency, o.maxTokens, end);
  await timeToIdle(server.http, performance.now(), 30_000);
  await sleep(1000);
  const rssBefore = rssBytes(server.pid);
  const before = await scrape(server.http);

  const t0 = performance.now();
  const { lastVanish, sent, acked } = await runClients(server, clientsFor(o.clients, 11, o.kinds), o.concurrency, o.maxTokens, end);
  const stormSeconds = (performance.now() - t0) / 1000;
  const idleMs = await timeToIdle(server.http, lastVanish, 30_000);
  const after = await scrape(server.http);
  const scrapeMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await scrape(server.http);
    scrapeMs.push(performance.now() - t);
  }
  const scrapeRtt = scrapeMs.sort((a, b) => a - b)[2]!;
  await sleep(2000);
  const rssAfter = rssBytes(server.pid);
  const afterLater = await scrape(server.http);

  const itlSum = metricSum(after, 'skipserve_inter_token_latency_seconds_sum') - metricSum(before, 'skipserve_inter_token_latency_seconds_sum');
  const itlCount = metricSum(after, 'skipserve_inter_token_latency_seconds_count') - metricSum(before, 'skipserve_inter_token_latency_seconds_count');
  const stepMs = Math.max(itlCount ? (1000 * itlSum) / itlCount : 0, refStepMs);
  const allowedMs = stepMs + 2 * scrapeRtt + 10;
  const grpcDeadlines = o.kinds ? o.kinds.filter((k) => k === 'grpc-deadline').length / o.kinds.length : 1 / KINDS.length;
  const o0 = outcomes(before);
  const o1 = outcomes(afterLater);
  const delta: Record<string, number> = {};
  for (const [k, v] of Object.entries(o1)) if (v - (o0[k] ?? 0) > 0) delta[k] = v - (o0[k] ?? 0);
  const counted = Object.values(delta).reduce((a, b) => a + b, 0);
  const growthMb = rssBefore !== null && rssAfter !== null ? (rssAfter - rssBefore) / 2 ** 20 : NaN;
  const crashes = server.exit() ? 1 : 0;

  const rows = [
    row(P, 'clients that vanished', `${sent} (${KINDS.join(', ')}: round-robin; n 1/2/4, ${o.maxTokens} tokens asked, gone after 100-600 ms or 1-6 events) in ${stormSeconds.toFixed(0)} s`, `>= ${o.clients}`, sent >= o.clients),
    zeroRow(P, 'server crashes', crashes),
    zeroRow(P, '5xx counted (outcome="error")', delta.error ?? 0),
    row(P, 'running rows and waiting requests at 0 after the last client', `${idleMs.toFixed(0)} ms`, `<= one engine step + one /metrics round trip each way + 10 ms = ${allowedMs.toFixed(0)} ms (step ${stepMs.toFixed(1)} ms: mean inter-token latency, storm or full batch; /metrics ${scrapeRtt.toFixed(1)} ms)`, idleMs <= allowedMs),
    row(P, 'server RSS growth over the storm (VmRSS, 2 s after idle)', `${growthMb.toFixed(1)} MB (${((rssBefore ?? 0) / 2 ** 20).toFixed(0)} -> ${((rssAfter ?? 0) / 2 ** 20).toFixed(0)} MB)`, '< 50 MB', growthMb < 50),
    row(P, 'gRPC deadlines counted as outcome="deadline"', `${delta.deadline ?? 0} of ~${Math.round(sent * grpcDeadlines)}`, 'all', (delta.deadline ?? 0) >= Math.floor(sent * grpcDeadlines) - 1),
    row(P, 'requests counted in skipserve_requests_total', `${counted} of ${sent} sent (${Object.entries(delta).map(([k, v]) => `${k} ${v}`).join(', ')}); ${acked} were acknowledged (SSE headers or a stream message) before the client vanished`, 'all sent', counted === sent),
  ];
  return { part: P, rows, details: { sent, acked, idleMs, stepMs, refStepMs, scrapeRtt, allowedMs, rssBefore, rssAfter, outcomes: delta, stormSeconds } };
}
