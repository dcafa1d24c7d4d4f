/**
 * `npm run bench:store`: what recording costs. Two parts, printed side by side:
 *
 * 1. The load driver's `chat` scenario (load-tests/, the same requests as `npm run load`) against the
 *    real server as a separate process, once per store variant: `--store off`, a SQLite file, and a
 *    PostgreSQL database, round robin (each round starting with the next variant), `--repeat` times, a
 *    fresh server each run (warmed up with 16 requests first). Per variant: medians over the runs of the p50 / p99 request latency, the latency
 *    added against `off`, requests/s, and records written per second of the run (and dropped).
 * 2. What a request pays on its path, in this process: building the record from a real request and
 *    result of the default model (n=4, 40 tokens, as in the chat scenario) and queueing it
 *    (`servedRecord` + `store.record()`, the only recording work between the result and the response),
 *    per call; and the records per second the store's writer sustains behind it, per engine.
 *
 * PostgreSQL: SKIPSERVE_BENCH_PG_URL or SKIPSERVE_TEST_PG_URL (a server URL; a fresh database is
 * created per run), else the throwaway cluster of .ci/postgres.sh; skipped when there is none.
 * Options: --model DIR (default models/default), --requests N (150), --concurrency C (4), --repeat R (3),
 * --n N (4), --max-tokens N (40), --records N (20000, part 2), --only-path (part 2 alone).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { runCli } from '../load-tests/driver/main.ts';
import { openLocalEngine } from '../src/engine/local-engine.ts';
import { prepareRequest } from '../src/engine/prepare-request.ts';
import { servedRecord } from '../src/engine/served-record.ts';
import type { GenerationRequest, GenerationResult } from '../src/engine/types.ts';
import { openStore } from '../src/store/open-store.ts';
import type { ServedVersions } from '../src/versions/served-versions.ts';
import { spawnServer } from '../testkit/spawn-server.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' }, requests: { type: 'string' }, concurrency: { type: 'string' }, repeat: { type: 'string' }, n: { type: 'string' },
    'max-tokens': { type: 'string' }, records: { type: 'string' }, 'only-path': { type: 'boolean' },
  },
});
const model = values.model ?? 'models/default';
const requests = Number(values.requests ?? 150);
const concurrency = Number(values.concurrency ?? 4);
const repeat = Number(values.repeat ?? 3);
const n = Number(values.n ?? 4);
const maxTokens = Number(values['max-tokens'] ?? 40);
const recordCount = Number(values.records ?? 20_000);
const work = mkdtempSync(join(tmpdir(), 'skipserve-bench-store-'));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

/** A PostgreSQL server URL, or null (with the reason printed). */
function postgresUrl(): string | null {
  const env = process.env.SKIPSERVE_BENCH_PG_URL ?? process.env.SKIPSERVE_TEST_PG_URL;
  if (env) return env;
  try {
    const out = execFileSync('bash', ['.ci/postgres.sh'], { env: { ...process.env, SKIPSERVE_PG_NO_INSTALL: '1' }, encoding: 'utf8' });
    return /SKIPSERVE_TEST_PG_URL=(\S+)/.exec(out)?.[1] ?? null;
  } catch (e) {
    console.log(`no PostgreSQL (${(e as Error).message.split('\n')[0]}): its rows are skipped`);
    return null;
  }
}

const created: string[] = [];

/** Runs one statement on the server of `base`. */
async function admin(base: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A fresh database on the server of `base`; returns its URL. */
async function freshDb(base: string, name: string): Promise<string> {
  created.push(name);
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

const metric = (text: string, name: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);

interface Run {
  p50: number;
  p99: number;
  rps: number;
  recordsPerS: number;
  written: number;
  dropped: number;
}

/** One measured chat run against a fresh server with `--store spec`. */
async function chatRun(spec: string, i: number): Promise<Run> {
  const server = await spawnServer(['--model', model, '--http-port', '0', '--grpc-port=-1', '--log-level', 'info', '--store', spec, '--version-cache-dir', join(work, `cache-${i}`)]);
  try {
    const common = ['--scenario', 'chat', '--base-url', server.url, '--arms', 'none', '--concurrency', String(concurrency), '--n', String(n), '--max-tokens', String(maxTokens), '--duration', '600', '--quiet'];
    const quiet = () => undefined;
    await runCli([...common, '--requests', '16', '--out', join(work, 'warmup.json')], quiet);
    await new Promise((r) => setTimeout(r, 300));
    const before = await (await fetch(`${server.url}/metrics`)).text();
    const s = (await runCli([...common, '--requests', String(requests), '--out', join(work, `run-${i}.json`)], quiet))!;
    await new Promise((r) => setTimeout(r, 300));
    const after = await (await fetch(`${server.url}/metrics`)).text();
    const written = metric(after, 'skipserve_store_records_written_total') - metric(before, 'skipserve_store_records_written_total');
    const dropped = metric(after, 'skipserve_store_records_dropped_total') - metric(before, 'skipserve_store_records_dropped_total');
    if (s.total.errors) throw new Error(`${spec}: ${s.total.errors} failed requests (${s.total.firstError})`);
    return { p50: s.total.latency.p50! * 1000, p99: s.total.latency.p99! * 1000, rps: s.total.requestsPerSecond, recordsPerS: written / s.wallS, written, dropped };
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
  }
}

/** A real chat request and its result on the model (what part 2 records over and over). */
async function chatSample(): Promise<{ req: GenerationRequest; result: GenerationResult; versions: ServedVersions }> {
  const local = await openLocalEngine({ modelDir: model, maxBatch: n, measureSpeedup: false });
  try {
    const spec = {
      prompt: { kind: 'chat' as const, messages: [{ role: 'user' as const, content: 'Ann has 9 pens. She buys 4 more and gives 1 away. How many pens does she have now?' }] },
      n, maxTokens, temperature: 0.8, seed: 1, skip: { policy: 'none', referenceAnswer: '12' }, metadata: { source: 'load-test', prompt: 'q01', arm: 'none' },
    };
    const result = await local.generate(spec);
    return { req: prepareRequest(local, spec), result, versions: local.versions };
  } finally {
    await local.close();
  }
}

/** Part 2: the on-path time of recording one request, and the writes the engine sustains behind it. */
async function writerRun(spec: string, sample: Awaited<ReturnType<typeof chatSample>>): Promise<{ callP50us: number; callP99us: number; perS: number; bytesPerRecord: number | null }> {
  const store = await openStore(spec, { queueSize: recordCount + 1 });
  const calls: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < recordCount; i++) {
    const c0 = performance.now();
    store.record(servedRecord(`chatcmpl-bench-${i}`, Date.now(), sample.req, sample.result, sample.versions));
    calls.push((performance.now() - c0) * 1000);
    // Yield now and then, as a server does between requests, so the writer drains alongside.
    if (i % 100 === 99) await new Promise((r) => setImmediate(r));
  }
  await store.flush();
  const perS = recordCount / ((performance.now() - t0) / 1000);
  await store.close();
  const bytes = spec.startsWith('postgres') ? null : statSync(spec).size / recordCount;
  return { callP50us: quantile(calls, 0.5), callP99us: quantile(calls, 0.99), perS, bytesPerRecord: bytes };
}

const pgBase = postgresUrl();
const variants: { name: string; spec: (i: number) => Promise<string> }[] = [
  { name: 'off', spec: async () => 'off' },
  { name: 'sqlite', spec: async (i) => join(work, `chat-${i}.sqlite`) },
  ...(pgBase ? [{ name: 'postgres', spec: (i: number) => freshDb(pgBase, `skipserve_bench_${process.pid}_${i}`) }] : []),
];
if (!values['only-path']) {
  console.log(`chat scenario: ${model}, n=${n}, max_tokens=${maxTokens}, concurrency ${concurrency}, ${requests} requests per run, ${repeat} rounds (round robin: ${variants.map((v) => v.name).join(', ')})`);
  const runs = new Map<string, Run[]>(variants.map((v) => [v.name, []]));
  let k = 0;
  for (let r = 0; r < repeat; r++) {
    // Each round starts with another variant, so no variant always runs first after a quiet machine.
    for (const v of [...variants.slice(r % variants.length), ...variants.slice(0, r % variants.length)]) {
      const run = await chatRun(await v.spec(k), k++);
      runs.get(v.name)!.push(run);
      console.log(`  round ${r + 1} ${v.name.padEnd(8)} p50 ${run.p50.toFixed(1)} ms  p99 ${run.p99.toFixed(1)} ms  ${run.rps.toFixed(2)} req/s  ${run.recordsPerS.toFixed(2)} records/s (${run.written} written, ${run.dropped} dropped)`);
    }
  }
  const off = runs.get('off')!;
  console.log('\n| store | p50 latency (ms) | p99 latency (ms) | added p50 vs off (ms) | added p99 vs off (ms) | requests/s | records/s written | dropped |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const v of variants) {
    const xs = runs.get(v.name)!;
    const m = (f: (x: Run) => number) => median(xs.map(f));
    const added = (f: (x: Run) => number) => (v.name === 'off' ? '-' : (m(f) - median(off.map(f))).toFixed(1));
    console.log(`| ${v.name} | ${m((x) => x.p50).toFixed(1)} | ${m((x) => x.p99).toFixed(1)} | ${added((x) => x.p50)} | ${added((x) => x.p99)} | ${m((x) => x.rps).toFixed(2)} | ${m((x) => x.recordsPerS).toFixed(2)} | ${xs.reduce((s, x) => s + x.dropped, 0)} |`);
  }
}

const sample = await chatSample();
console.log(`\non the request path: building and queueing the record of one chat request (n=${n}, ${sample.result.completionTokens} tokens), ${recordCount} times; then the writer behind it`);
console.log('| store | record p50 (µs) | record p99 (µs) | records/s the writer sustains | bytes per record on disk |');
console.log('|---|---|---|---|---|');
for (const v of variants.filter((x) => x.name !== 'off')) {
  const w = await writerRun(v.name === 'sqlite' ? join(work, 'writer.sqlite') : await freshDb(pgBase!, `skipserve_bench_${process.pid}_writer`), sample);
  console.log(`| ${v.name} | ${w.callP50us.toFixed(1)} | ${w.callP99us.toFixed(1)} | ${Math.round(w.perS)} | ${w.bytesPerRecord === null ? '-' : Math.round(w.bytesPerRecord)} |`);
}
for (const name of created) await admin(pgBase!, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
rmSync(work, { recursive: true, force: true });
