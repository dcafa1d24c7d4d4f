/**
 * Part "overload": `factor` times the admissible concurrency (rows of --max-batch at n = 1 plus
 * --max-queue waiting) as closed-loop clients, HTTP and gRPC, for `seconds`. Measures the refused
 * share (429 / RESOURCE_EXHAUSTED), whether refusals carry Retry-After, the admitted p99 against the
 * unloaded p99 and against the p99 at exactly the admissible concurrency (the bound: refusing the
 * excess must cost the admitted little), /ready while the queue is full, and the recovery time.
 */
import * as grpc from '@grpc/grpc-js';
import { grpcGenerate, inferenceClient, postCompletion, PROMPTS, sleep } from './clients.ts';
import { pct, percentile, row, zeroRow, type PartResult } from './report.ts';
import { getStatus, metricSum, scrape, type ServerUnderTest } from './server-process.ts';
import { SERVER_ERROR_CODES } from './fuzz-grpc.ts';

export interface OverloadOptions {
  maxBatch: number;
  maxQueue: number;
  factor: number;
  seconds: number;
  unloadedRequests: number;
  maxTokens: number;
}

const TIMEOUT_MS = 60_000;
/** Back-off after a refusal without Retry-After; with it, its value (capped at 2 s) is honoured. */
const BACKOFF_MS = 100;

/** Runs the overload part against a running server. */
export async function overload(server: ServerUnderTest, o: OverloadOptions): Promise<PartResult> {
  const P = 'overload';
  const body = (i: number) => ({ prompt: PROMPTS[i % PROMPTS.length], max_tokens: o.maxTokens, ignore_eos: true, temperature: 0.8, seed: i });
  const admissible = o.maxBatch + o.maxQueue;
  const clients = o.factor * admissible;
  const grpcClients = Math.floor(clients / 4);

  for (let i = 0; i < 3; i++) await postCompletion(server.http, body(i), TIMEOUT_MS);
  const unloaded: number[] = [];
  for (let i = 0; i < o.unloadedRequests; i++) {
    const r = await postCompletion(server.http, body(i), TIMEOUT_MS);
    if (r.status === 200) unloaded.push(r.ms);
  }

  // Reference: exactly the admissible concurrency, nothing refused; the bound for admitted latency under overload.
  const admissibleMs: number[] = [];
  const refEnd = performance.now() + Math.min(15, Math.max(3, o.seconds / 4)) * 1000;
  await Promise.all(
    Array.from({ length: admissible }, async (_, k) => {
      for (let j = 0; performance.now() < refEnd; j++) {
        const r = await postCompletion(server.http, body(k * 1000 + j), TIMEOUT_MS);
        if (r.status === 200) admissibleMs.push(r.ms);
      }
    }),
  );

  const c = { sent: 0, admitted: 0, refused: 0, refusedWithRetryAfter: 0, grpcSent: 0, grpcAdmitted: 0, grpcRefused: 0, grpcRefusedWithPushback: 0, s5xx: 0, otherErrors: 0, hangs: 0 };
  const admittedMs: number[] = [];
  const retryAfter: string[] = [];
  const readySamples: { t: number; ready: number; full: boolean }[] = [];
  const t0 = performance.now();
  const burstEnd = t0 + o.seconds * 1000;
  let seq = 1000;

  const httpLoop = async () => {
    while (performance.now() < burstEnd) {
      const r = await postCompletion(server.http, body(seq++), TIMEOUT_MS);
      c.sent++;
      if (r.status === 200) {
        c.admitted++;
        admittedMs.push(r.ms);
      } else if (r.status === 429) {
        c.refused++;
        const ra = r.headers?.get('retry-after');
        if (ra) {
          c.refusedWithRetryAfter++;
          if (retryAfter.length < 5) retryAfter.push(ra);
        }
        // Honours Retry-After, but not past the end of the burst: a client still asleep then would
        // delay the recovery probes below, and the recovery time would measure this harness's sleep.
        await sleep(Math.max(0, Math.min(ra && Number.isFinite(Number(ra)) ? Math.min(2000, Number(ra) * 1000) : BACKOFF_MS, burstEnd - performance.now())));
      } else if (r.status >= 500) c.s5xx++;
      else if (r.status === 0 && /timeout|abort/i.test(r.error ?? '')) c.hangs++;
      else c.otherErrors++;
    }
  };
  const grpcLoop = async () => {
    const client = inferenceClient(server.grpc);
    try {
      while (performance.now() < burstEnd) {
        const r = await grpcGenerate(client, body(seq++), TIMEOUT_MS);
        c.grpcSent++;
        if (r.code === grpc.status.OK) {
          c.grpcAdmitted++;
          admittedMs.push(r.ms);
        } else if (r.code === grpc.status.RESOURCE_EXHAUSTED) {
          c.grpcRefused++;
          const pushback = r.metadata?.get('retry-after')[0] ?? r.metadata?.get('grpc-retry-pushback-ms')[0];
          if (pushback !== undefined) c.grpcRefusedWithPushback++;
          await sleep(Math.max(0, Math.min(BACKOFF_MS, burstEnd - performance.now())));
        } else if (SERVER_ERROR_CODES.includes(r.code)) c.s5xx++;
        else if (r.code === grpc.status.DEADLINE_EXCEEDED) c.hangs++;
        else c.otherErrors++;
      }
    } finally {
      client.close();
    }
  };
  // /ready between two scrapes: a sample counts as "queue full" (a new request would be refused) only when both saw it.
  const poll = async () => {
    while (performance.now() < burstEnd) {
      const full = (text: string) => metricSum(text, 'skipserve_waiting_requests') >= o.maxQueue && metricSum(text, 'skipserve_running_rows') >= o.maxBatch;
      const before = full(await scrape(server.http).catch(() => ''));
      const ready = await getStatus(server.http, '/ready');
      const after = full(await scrape(server.http).catch(() => ''));
      readySamples.push({ t: Math.round(performance.now() - t0), ready, full: before && after });
      await sleep(250);
    }
  };
  await Promise.all([...Array.from({ length: clients - grpcClients }, httpLoop), ...Array.from({ length: grpcClients }, grpcLoop), poll()]);

  // Recovery: probes every 50 ms from the end of the burst until one is served as fast as unloaded ones.
  const unloadedP99 = percentile(unloaded, 99);
  let recoveryMs = NaN;
  let waitingZeroMs = NaN;
  let i = 0;
  while (performance.now() - burstEnd < 30_000) {
    if (Number.isNaN(waitingZeroMs) && metricSum(await scrape(server.http), 'skipserve_waiting_requests') === 0) waitingZeroMs = performance.now() - burstEnd;
    const r = await postCompletion(server.http, body(i++), TIMEOUT_MS);
    if (r.status === 200 && r.ms <= 2 * unloadedP99) {
      recoveryMs = performance.now() - burstEnd;
      break;
    }
    await sleep(50);
  }
  // /ready stays 503 for 300 ms after the queue was last full (src/api/server.ts): polled until 200, for up to 2 s.
  let readyAfter = await getStatus(server.http, '/ready');
  const readyPollStart = performance.now();
  while (readyAfter !== 200 && performance.now() - readyPollStart < 2000) {
    await sleep(50);
    readyAfter = await getStatus(server.http, '/ready');
  }
  const readyAfterMs = performance.now() - burstEnd;
  const fullSamples = readySamples.filter((s) => s.full);
  const full503 = fullSamples.filter((s) => s.ready === 503).length;
  const crashes = server.exit() ? 1 : 0;
  const admittedP99 = percentile(admittedMs, 99);
  const ratio = admittedP99 / unloadedP99;
  const admissibleP99 = percentile(admissibleMs, 99);
  const refRatio = admittedP99 / admissibleP99;
  const totalSent = c.sent + c.grpcSent;
  const totalRefused = c.refused + c.grpcRefused;

  const rows = [
    row(P, 'load', `${clients} closed-loop clients (${clients - grpcClients} HTTP, ${grpcClients} gRPC) = ${o.factor}x admissible ${admissible} (--max-batch ${o.maxBatch} at n=1 + --max-queue ${o.maxQueue}) for ${o.seconds} s; ${o.maxTokens} tokens each`),
    zeroRow(P, 'server crashes', crashes),
    zeroRow(P, '5xx / INTERNAL', c.s5xx),
    zeroRow(P, 'hangs (no answer in 60 s)', c.hangs),
    zeroRow(P, 'other errors', c.otherErrors, false),
    row(P, 'refused (429 / RESOURCE_EXHAUSTED)', pct(totalRefused, totalSent), '> 0 under 4x load', totalRefused > 0),
    row(P, '429 with Retry-After', pct(c.refusedWithRetryAfter, c.refused), '100%', c.refused > 0 && c.refusedWithRetryAfter === c.refused),
    row(P, 'RESOURCE_EXHAUSTED with retry-after / grpc-retry-pushback-ms metadata', pct(c.grpcRefusedWithPushback, c.grpcRefused), '100%', c.grpcRefused > 0 && c.grpcRefusedWithPushback === c.grpcRefused),
    row(P, 'unloaded p50 / p99 (sequential)', `${percentile(unloaded, 50).toFixed(0)} / ${unloadedP99.toFixed(0)} ms (${unloaded.length} requests)`),
    row(P, 'admitted p50 / p99 under the burst', `${percentile(admittedMs, 50).toFixed(0)} / ${admittedP99.toFixed(0)} ms (${admittedMs.length} requests)`),
    row(P, `p50 / p99 at exactly the admissible concurrency (${admissible} clients, nothing refused)`, `${percentile(admissibleMs, 50).toFixed(0)} / ${admissibleP99.toFixed(0)} ms (${admissibleMs.length} requests)`),
    row(P, 'admitted p99 / unloaded p99', `${ratio.toFixed(2)}x`),
    row(P, 'admitted p99 / p99 at admissible concurrency (what refusing the excess costs the admitted)', `${refRatio.toFixed(2)}x`, '<= 1.5x', refRatio <= 1.5),
    row(P, '/ready answered 503 while the queue was full (waiting = --max-queue and running rows = --max-batch in a scrape just before and just after), as deploy/README.md documents', pct(full503, fullSamples.length), '> 0 (the state flips between engine steps, so not every sample can agree)', full503 > 0),
    row(P, '/ready samples answered 503 over the whole burst', pct(readySamples.filter((s) => s.ready === 503).length, readySamples.length)),
    row(P, '/ready after recovery (polled for up to 2 s: it holds 503 for 300 ms after the queue was last full)', `${readyAfter} at ${readyAfterMs.toFixed(0)} ms after the burst`, '200', readyAfter === 200),
    row(P, 'waiting requests back to 0 after the burst', `${waitingZeroMs.toFixed(0)} ms`),
    row(P, 'recovery: first request served at unloaded speed (<= 2x unloaded p99) after the burst', `${recoveryMs.toFixed(0)} ms`, '<= 1000 ms', recoveryMs <= 1000),
  ];
  return { part: P, rows, details: { counts: c, retryAfter, unloadedMs: unloaded, admissibleP50: percentile(admissibleMs, 50), admissibleP99, readySamples, recoveryMs, waitingZeroMs } };
}
