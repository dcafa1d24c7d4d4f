/**
 * `npm run bench:store`: what recording costs. Two parts:
 *
 * 1. The load driver's `chat` scenario (load-tests/: the same prompts, seeds and request bodies as
 *    `npm run load -- --scenario chat`) against three real servers, each a separate process started at
 *    once: `--store off`, a SQLite file, and a PostgreSQL database. The load goes to one server at a
 *    time, in short blocks (`--block` requests at `--concurrency`), round robin with the start rotating,
 *    `--blocks` blocks per server: every block sends the same prompts and seeds, so the three see the
 *    same work at nearly the same moments and drift on a busy machine hits them alike. Per server:
 *    p50 / p99 request latency over all its requests, the median of its block p50s, the latency added
 *    against `off`, and the records written per second of load (and dropped).
 * 2. What a request pays on its path, in this process: building the record from a real request and
 *    result of the model (n=4, 40 tokens, as in the chat scenario) and queueing it
 *    (`servedRecord` + `store.record()`, the only recording work between the result and the
 *    response), per call; and the records per second the store's writer sustains behind it.
 *
 * PostgreSQL: SKIPSERVE_BENCH_PG_URL or SKIPSERVE_TEST_PG_URL (a server URL; a fresh database is
 * created), else the throwaway cluster of .ci/postgres.sh; skipped when there is none.
 * Options: --model DIR (default models/default), --block N (12), --blocks B (30), --concurrency C (4),
 * --n N (4), --max-tokens N (40), --records N (20000, part 2), --only-path (part 2 alone).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { httpSender } from '../load-tests/driver/http-transport.ts';
import { runLoad } from '../load-tests/driver/runner.ts';
import type { Sample } from '../load-tests/driver/types.ts';
import { loadConfig } from '../load-tests/shared/config.ts';
import { SCENARIOS } from '../load-tests/shared/scenarios.ts';
import { openLocalEngine } from '../src/engine/local-engine.ts';
import { prepareRequest } from '../src/engine/prepare-request.ts';
import { servedRecord } from '../src/engine/served-record.ts';
import type { GenerationRequest, GenerationResult } from '../src/engine/types.ts';
import { openStore } from '../src/store/open-store.ts';
import type { ServedVersions } from '../src/versions/served-versions.ts';
import { spawnServer } from '../testkit/spawn-server.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' }, block: { type: 'string' }, blocks: { type: 'string' }, concurrency: { type: 'string' }, n: { type: 'string' },
    'max-tokens': { type: 'string' }, records: { type: 'string' }, 'only-path': { type: 'boolean' },
  },
});
const model = values.model ?? 'models/default';
const blockSize = Number(values.block ?? 12);
const blocks = Number(values.blocks ?? 30);
const concurrency = Number(values.concurrency ?? 4);
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

const scrape = async (url: string) => (await fetch(`${url}/metrics`)).text();

/** Part 1: the interleaved chat blocks; returns one table row per store. */
async function chatBlocks(variants: { name: string; spec: string }[]): Promise<void> {
  const servers = await Promise.all(
    variants.map((v, i) => spawnServer(['--model', model, '--http-port', '0', '--grpc-port=-1', '--log-level', 'info', '--store', v.spec, '--version-cache-dir', join(work, `cache-${i}`)])),
  );
  try {
    const cfgs = await Promise.all(
      servers.map(async (s) => {
        const c = loadConfig({ BASE_URL: s.url, N: String(n), MAX_TOKENS: String(maxTokens), ARMS: 'none', VUS: String(concurrency) });
        const models = (await (await fetch(`${s.url}/v1/models`)).json()) as { data: { id: string }[] };
        return { ...c, model: models.data[0]!.id };
      }),
    );
    const block = async (i: number) => {
      const r = await runLoad({ cfg: cfgs[i]!, scenario: SCENARIOS.chat!, send: httpSender(cfgs[i]!, false), requests: blockSize, durationS: 600, concurrency, graceS: 60 });
      if (r.samples.some((x) => !x.ok)) throw new Error(`${variants[i]!.name}: ${r.samples.find((x) => !x.ok)!.error}`);
      return r;
    };
    for (let i = 0; i < servers.length; i++) await block(i); // warm-up, not counted
    await new Promise((r) => setTimeout(r, 300));
    const before = await Promise.all(servers.map((s) => scrape(s.url)));
    const samples: Sample[][] = variants.map(() => []);
    const blockP50: number[][] = variants.map(() => []);
    const loadS = variants.map(() => 0);
    for (let b = 0; b < blocks; b++) {
      for (let j = 0; j < variants.length; j++) {
        const i = (b + j) % variants.length;
        const r = await block(i);
        samples[i]!.push(...r.samples);
        blockP50[i]!.push(quantile(r.samples.map((x) => x.durationMs), 0.5));
        loadS[i]! += r.wallS;
      }
    }
    await new Promise((r) => setTimeout(r, 300));
    const after = await Promise.all(servers.map((s) => scrape(s.url)));
    console.log(`chat scenario: ${model}, n=${n}, max_tokens=${maxTokens}, concurrency ${concurrency}; ${blocks} blocks of ${blockSize} requests per store, interleaved (${variants.map((v) => v.name).join(', ')})`);
    console.log('| store | p50 latency (ms) | p99 latency (ms) | block p50s: median (min-max) (ms) | added p50 vs off (ms) | added p99 vs off (ms) | requests/s | records/s written | dropped |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    const p = (i: number, q: number) => quantile(samples[i]!.map((x) => x.durationMs), q);
    for (const [i, v] of variants.entries()) {
      const written = metric(after[i]!, 'skipserve_store_records_written_total') - metric(before[i]!, 'skipserve_store_records_written_total');
      const dropped = metric(after[i]!, 'skipserve_store_records_dropped_total') - metric(before[i]!, 'skipserve_store_records_dropped_total');
      const added = (q: number) => (i === 0 ? '-' : (p(i, q) - p(0, q)).toFixed(1));
      console.log(`| ${v.name} | ${p(i, 0.5).toFixed(1)} | ${p(i, 0.99).toFixed(1)} | ${median(blockP50[i]!).toFixed(1)} (${Math.min(...blockP50[i]!).toFixed(0)}-${Math.max(...blockP50[i]!).toFixed(0)}) | ${added(0.5)} | ${added(0.99)} | ${(samples[i]!.length / loadS[i]!).toFixed(2)} | ${(written / loadS[i]!).toFixed(2)} | ${dropped} |`);
    }
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => new Promise((r) => (s.child.exitCode === null ? s.child.once('exit', r) : r(null)))));
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
const variants = [
  { name: 'off', spec: 'off' },
  { name: 'sqlite', spec: join(work, 'chat.sqlite') },
  ...(pgBase ? [{ name: 'postgres', spec: await freshDb(pgBase, `skipserve_bench_${process.pid}_chat`) }] : []),
];
console.log(`machine: ${(await import('node:os')).cpus().length} cores, load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')} before the run`);
if (!values['only-path']) await chatBlocks(variants);

const sample = await chatSample();
console.log(`\non the request path: building and queueing the record of one chat request (n=${n}, ${sample.result.completionTokens} tokens over the candidates), ${recordCount} times; then the writer behind it`);
console.log('| store | record p50 (µs) | record p99 (µs) | records/s the writer sustains | bytes per record on disk |');
console.log('|---|---|---|---|---|');
for (const v of variants.filter((x) => x.name !== 'off')) {
  const w = await writerRun(v.name === 'sqlite' ? join(work, 'writer.sqlite') : await freshDb(pgBase!, `skipserve_bench_${process.pid}_writer`), sample);
  console.log(`| ${v.name} | ${w.callP50us.toFixed(1)} | ${w.callP99us.toFixed(1)} | ${Math.round(w.perS)} | ${w.bytesPerRecord === null ? '-' : Math.round(w.bytesPerRecord)} |`);
}
for (const name of created) await admin(pgBase!, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
rmSync(work, { recursive: true, force: true });
