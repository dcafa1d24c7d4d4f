/**
 * `npm run reliability [-- --quick] [--parts a,b] [--out FILE] [--model DIR] [--seed N]`: starts
 * the real server (the CLI, as a child process on loopback) for each part, runs fuzzing (HTTP and
 * gRPC), overload, a disconnect storm, a SIGTERM drain and a kill -9 mid-write, prints one table of figures and writes
 * it as JSON. Every loop is bounded in count and time. Exit code 1 when a goal fails.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { disconnectStorm } from './disconnect-storm.ts';
import { crash } from './crash.ts';
import { drain } from './drain.ts';
import { fuzzGrpc } from './fuzz-grpc.ts';
import { fuzzHttp } from './fuzz-http.ts';
import { overload } from './overload.ts';
import { loadAverage, table, writeReport, type PartResult, type Report, type Row } from './report.ts';
import { REPO_ROOT, startServer, type ServerUnderTest } from './server-process.ts';

export const PARTS = ['fuzz-http', 'fuzz-grpc', 'overload', 'disconnect-storm', 'drain', 'crash'] as const;
export type Part = (typeof PARTS)[number];

export interface ReliabilityOptions {
  quick: boolean;
  parts: Part[];
  model: string;
  seed: number;
  out: string | null;
  /** Progress lines (stderr by default). */
  log?: (line: string) => void;
}

/** Sizes of every part: the issue's full sizes, or a short CI version. */
export function sizes(quick: boolean) {
  return quick
    ? { httpCases: 400, grpcCases: 200, fuzzSeconds: 90, hugeChars: 20_000, bodyProbeBytes: 2 * 2 ** 20, overloadSeconds: 6, unloadedRequests: 10, stormClients: 60, drainClients: 12, drainTokens: 200, grpcHangMs: 5_000 }
    : { httpCases: 10_000, grpcCases: 2_000, fuzzSeconds: 1800, hugeChars: 200_000, bodyProbeBytes: 8 * 2 ** 20, overloadSeconds: 60, unloadedRequests: 60, stormClients: 1000, drainClients: 24, drainTokens: 400, grpcHangMs: 15_000 };
}

/** The model's shape as the fuzzers need it, from its config.json. */
function modelShape(model: string): { context: number; vocab: number; layers: number; heads: number } {
  const cfg = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as { max_position_embeddings: number; vocab_size: number; num_hidden_layers: number; num_attention_heads: number };
  return { context: cfg.max_position_embeddings, vocab: cfg.vocab_size, layers: cfg.num_hidden_layers, heads: cfg.num_attention_heads };
}

/** Runs the selected parts and returns the report (also written to `out` when given). */
export async function runReliability(o: ReliabilityOptions): Promise<Report> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const s = sizes(o.quick);
  const model = o.model.startsWith('/') ? o.model : join(REPO_ROOT, o.model);
  const shape = modelShape(model);
  const startedAt = new Date();
  const atStart = loadAverage();
  const results: PartResult[] = [];
  const servers: string[] = [];
  const withServer = async (name: string, opts: { maxBatch: number; maxQueue: number; drainTimeoutS?: number; extraArgs?: string[] }, fn: (srv: ServerUnderTest) => Promise<PartResult>) => {
    log(`[reliability] ${name}: starting the server`);
    const srv = await startServer({ model, ...opts });
    servers.push(`${name}: ${srv.command}`);
    try {
      const t = performance.now();
      const r = await fn(srv);
      log(`[reliability] ${name}: done in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      results.push(r);
    } finally {
      await srv.stop();
    }
  };
  const limits = { maxBatch: 8, context: shape.context, vocab: shape.vocab, layers: shape.layers, heads: shape.heads, hugeChars: s.hugeChars };
  // Requests that leave max_tokens out (or set it null) get 8 tokens, so a hang means stuck, not queued behind long generations.
  const fuzzServer = { maxBatch: 8, maxQueue: 64, extraArgs: ['--default-max-tokens', '8'] };
  if (o.parts.includes('fuzz-http')) await withServer('fuzz-http', fuzzServer, (srv) => fuzzHttp(srv, { cases: s.httpCases, seed: o.seed, concurrency: 6, hangMs: 15_000, limits, maxSeconds: s.fuzzSeconds, bodyProbeBytes: s.bodyProbeBytes }));
  if (o.parts.includes('fuzz-grpc')) await withServer('fuzz-grpc', fuzzServer, (srv) => fuzzGrpc(srv, { cases: s.grpcCases, seed: o.seed, concurrency: 6, hangMs: s.grpcHangMs, limits, maxSeconds: s.fuzzSeconds }));
  if (o.parts.includes('overload')) await withServer('overload', { maxBatch: 4, maxQueue: 4 }, (srv) => overload(srv, { maxBatch: 4, maxQueue: 4, factor: 4, seconds: s.overloadSeconds, unloadedRequests: s.unloadedRequests, maxTokens: 16 }));
  if (o.parts.includes('disconnect-storm')) await withServer('disconnect-storm', { maxBatch: 8, maxQueue: 64 }, (srv) => disconnectStorm(srv, { clients: s.stormClients, concurrency: 40, maxTokens: 200, maxSeconds: 600 }));
  if (o.parts.includes('crash')) {
    log('[reliability] crash: writers, kill -9, restart on the same store');
    results.push(await crash({ model, maxBatch: 8, maxQueue: 64 }, { writers: 6, seconds: o.quick ? 8 : 30 }));
  }
  if (o.parts.includes('drain')) await withServer('drain', { maxBatch: 8, maxQueue: 32, drainTimeoutS: 30 }, (srv) => drain(srv, { clients: s.drainClients, maxTokens: s.drainTokens, drainTimeoutS: 30 }));

  const rows: Row[] = results.flatMap((r) => r.rows);
  const finishedAt = new Date();
  const report: Report = {
    command: `npm run reliability${o.quick || o.parts.length < PARTS.length ? ' --' : ''}${o.quick ? ' --quick' : ''}${o.parts.length < PARTS.length ? ` --parts ${o.parts.join(',')}` : ''}`,
    mode: o.quick ? 'quick' : 'full',
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    wallSeconds: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000),
    loadAverage: { atStart, atEnd: loadAverage() },
    node: process.version,
    cpus: cpus().length,
    servers,
    rows,
    failed: rows.filter((r) => r.pass === false),
    parts: Object.fromEntries(results.map((r) => [r.part, r.details])),
  };
  if (o.out) writeReport(o.out, report);
  return report;
}

async function cli(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      parts: { type: 'string' },
      out: { type: 'string' },
      model: { type: 'string', default: 'models/default' },
      seed: { type: 'string', default: '42' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`usage: npm run reliability -- [--quick] [--parts ${PARTS.join(',')}] [--out FILE] [--model DIR] [--seed N]\n`);
    return;
  }
  const parts = (values.parts ? values.parts.split(',') : [...PARTS]) as Part[];
  const bad = parts.find((p) => !PARTS.includes(p));
  if (bad) throw new Error(`unknown part '${bad}' (known: ${PARTS.join(', ')})`);
  const out = values.out ?? join(REPO_ROOT, 'load-tests', 'out', values.quick ? 'reliability-quick.json' : 'reliability.json');
  const report = await runReliability({ quick: values.quick!, parts, model: values.model!, seed: Number(values.seed), out });
  process.stdout.write(`\n${table(report.rows)}\n\n${report.command}; ${report.startedAt}; ${report.wallSeconds} s; load average ${report.loadAverage.atStart.join(' ')} at start, ${report.loadAverage.atEnd.join(' ')} at the end; ${report.cpus} CPUs\nJSON: ${out}\n`);
  if (report.failed.length) {
    process.stdout.write(`\n${report.failed.length} goal(s) failed:\n${report.failed.map((r) => `  - ${r.part}: ${r.figure} = ${r.value} (goal ${r.goal})`).join('\n')}\n`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  cli(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`reliability: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 2;
  });
}
