/**
 * Part "drain": SIGTERM under load. Long requests (HTTP, SSE, gRPC unary and stream; some still
 * queued) are in flight when the signal arrives. Checks: /ready turns 503, new requests get 503 /
 * UNAVAILABLE, every in-flight request finishes with all its tokens, and the process exits 0 within
 * the drain timeout.
 */
import * as grpc from '@grpc/grpc-js';
import { grpcGenerate, grpcStream, inferenceClient, postCompletion, PROMPTS, sleep } from './clients.ts';
import { pct, row, zeroRow, type PartResult } from './report.ts';
import { getStatus, metricSum, scrape, type ServerUnderTest } from './server-process.ts';

export interface DrainOptions {
  clients: number;
  maxTokens: number;
  drainTimeoutS: number;
}

type Kind = 'http' | 'sse' | 'grpc' | 'grpc-stream';
const KINDS: Kind[] = ['http', 'sse', 'grpc', 'grpc-stream'];

/** Runs the drain part; the server has exited when it returns. */
export async function drain(server: ServerUnderTest, o: DrainOptions): Promise<PartResult> {
  const P = 'drain';
  const client = inferenceClient(server.grpc);
  const timeout = (o.drainTimeoutS + 30) * 1000;
  const inflight = Array.from({ length: o.clients }, async (_, i) => {
    const kind = KINDS[i % KINDS.length]!;
    const n = 1 + (i % 2);
    const body = { prompt: PROMPTS[i % PROMPTS.length], n, max_tokens: o.maxTokens, ignore_eos: true, temperature: 0.7, seed: i };
    const want = n * o.maxTokens;
    if (kind === 'http' || kind === 'sse') {
      const r = await postCompletion(server.http, { ...body, stream: kind === 'sse', stream_options: kind === 'sse' ? { include_usage: true } : undefined }, timeout);
      const usage = kind === 'sse' ? JSON.parse([...r.events].reverse().find((e) => e.includes('"usage"')) ?? '{}').usage : r.json?.usage;
      const complete = r.status === 200 && usage?.completion_tokens === want && (kind === 'http' || r.events.at(-1) === '[DONE]');
      return { kind, ok: complete, got: `${r.status} ${usage?.completion_tokens ?? '?'}/${want} tokens${r.error ? ` ${r.error}` : ''}` };
    }
    const r = kind === 'grpc' ? await grpcGenerate(client, body, timeout) : await grpcStream(client, body, timeout);
    const tokens = r.response?.usage?.completion_tokens;
    return { kind, ok: r.code === grpc.status.OK && tokens === want, got: `${grpc.status[r.code]} ${tokens ?? '?'}/${want} tokens ${r.details}` };
  });

  // Signal once the batch is full and some requests wait behind it (or after 30 s).
  const start = performance.now();
  while (performance.now() - start < 30_000) {
    const text = await scrape(server.http);
    if (metricSum(text, 'skipserve_running_rows') >= 8 && metricSum(text, 'skipserve_waiting_requests') > 0) break;
    await sleep(10);
  }
  const atSignal = await scrape(server.http);
  const running = metricSum(atSignal, 'skipserve_running_rows');
  const waiting = metricSum(atSignal, 'skipserve_waiting_requests');

  const t0 = performance.now();
  server.child.kill('SIGTERM');
  let readyMs = NaN;
  while (performance.now() - t0 < 10_000) {
    if ((await getStatus(server.http, '/ready', 2000)) === 503) {
      readyMs = performance.now() - t0;
      break;
    }
    await sleep(10);
  }
  const probes = await Promise.all([
    ...Array.from({ length: 4 }, () => postCompletion(server.http, { prompt: 'late', max_tokens: 2 }, 10_000).then((r) => ({ transport: 'http', refused: r.status === 503, got: String(r.status || r.error) }))),
    ...Array.from({ length: 4 }, () => grpcGenerate(client, { prompt: 'late', max_tokens: 2 }, 10_000).then((r) => ({ transport: 'grpc', refused: r.code === grpc.status.UNAVAILABLE && !/ECONNREFUSED|No connection|connect/i.test(r.details), got: `${grpc.status[r.code] ?? r.code}: ${r.details}` }))),
  ]);
  const results = await Promise.all(inflight);
  client.close();
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([server.exited, new Promise<null>((r) => (timer = setTimeout(() => r(null), timeout)))]);
  clearTimeout(timer);
  const exitS = (performance.now() - t0) / 1000;
  const finished = results.filter((r) => r.ok).length;
  const refused = probes.filter((p) => p.refused).length;
  const errorLogs = server.output().split('\n').filter((l) => /"level":(50|60)/.test(l)).length;

  const rows = [
    row(P, 'in flight at SIGTERM', `${o.clients} requests (${KINDS.join(', ')}; n 1-2, ${o.maxTokens} tokens each): ${running} rows running, ${waiting} requests waiting`),
    zeroRow(P, 'crashes (exit by signal or non-zero code)', exit && exit.code === 0 && exit.signal === null ? 0 : 1),
    row(P, 'in-flight requests finished with every token', pct(finished, results.length), '100%', finished === results.length),
    row(P, '/ready answered 503 after SIGTERM', Number.isNaN(readyMs) ? 'never' : `after ${readyMs.toFixed(0)} ms`, 'yes', !Number.isNaN(readyMs)),
    row(P, 'new requests during the drain refused with 503 / UNAVAILABLE', pct(refused, probes.length), '100%', refused === probes.length),
    row(P, 'exit code', exit ? String(exit.code ?? exit.signal) : 'still running', '0', exit?.code === 0),
    row(P, 'time from SIGTERM to exit', `${exitS.toFixed(1)} s`, `<= --drain-timeout ${o.drainTimeoutS} s`, exitS <= o.drainTimeoutS),
    zeroRow(P, 'error-level log lines', errorLogs, false),
  ];
  return { part: P, rows, details: { results, probes, running, waiting, readyMs, exit, exitS } };
}
