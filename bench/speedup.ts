/**
 * `npm run bench:speedup`: can the speedup the server reports be trusted from the first request?
 * Starts a fresh server (a separate process, as a user runs it), then alternates the same request
 * (prompt, n, seed, tokens with end-of-sequence ignored) with a skip core and on the full model,
 * the skip-core request first (a fresh server that has seen no full-model request), for several
 * rounds. Prints, per core, the speedup the server reported (first request, median) next to the
 * measured end-to-end ratio (median of full / core wall time over the pairs). The first request is
 * also the first through the server's HTTP and JavaScript paths, which the full-model request
 * after it does not pay, so the first pair's ratio is also given against the same full-model request
 * sent first to a second fresh server (`fresh full`: both requests first on their own server).
 *
 * Cores: `latency-budget` (or --policy NAME: a fast mode such as `learned` or `ensemble`) at each
 * --targets value when the model has a router calibration, else
 * an explicit core skipping about half the FLOPs (--core-share). Model: --model DIR, else
 * models/default, else a random-weight checkpoint with wide layers generated here (not committed).
 * --n N (8), --max-tokens T (96), --rounds R (6), --threads N, --verbose (every round's times).
 * --beside LIST: callers sending the same kind of request back to back beside the alternation, one
 * per entry: `none`, `random-heads`, `latency-budget:T` (target T) or `explicit` (the bench's
 * explicit core), e.g. `--beside none,none` (under load) or `--beside none,latency-budget:1.5`
 * (mixed load); they start after the server's first request, so that one is still a fresh server's.
 * --max-batch R: the server's --max-batch (default max(8, n)); raise it so the callers' rows share
 * steps with the alternation's, e.g. `--beside latency-budget:1.25 x 7 --max-batch 64` (a crowd of one core).
 * --server-log FILE: run the server at log level debug and write its log there (each request's
 * window and the terms of its full-model counterfactual: where a reported speedup comes from).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { planCost, planToWire, type SkipPlan } from '../src/plans/plan.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';
import { spawnServer } from '../testkit/spawn-server.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' }, n: { type: 'string' }, 'max-tokens': { type: 'string' }, rounds: { type: 'string' }, threads: { type: 'string' },
    targets: { type: 'string' }, policy: { type: 'string' }, 'core-share': { type: 'string' }, verbose: { type: 'boolean' }, beside: { type: 'string' }, 'max-batch': { type: 'string' }, 'server-log': { type: 'string' },
  },
});
const n = Number(values.n ?? 8);
const maxTokens = Number(values['max-tokens'] ?? 96);
const rounds = Number(values.rounds ?? 6);
const targets = (values.targets ?? '1.25,1.5').split(',').map(Number);
const beside = values.beside ? values.beside.split(',').map((x) => x.trim()) : [];
// Rows the server decodes together: room for the alternation's n and, by default, nothing more.
const maxBatch = Number(values['max-batch'] ?? Math.max(8, n));

function pickModel(): string {
  if (values.model) return values.model;
  if (existsSync('models/default/config.json')) return 'models/default';
  const dir = join(tmpdir(), 'skipserve-bench-speedup-ckpt');
  if (!existsSync(join(dir, 'config.json'))) makeCheckpoint({ dir, layers: 8, hidden: 512, heads: 8, kvHeads: 4, intermediate: 1536, vocab: 4096, maxPositions: 512, seed: 3 });
  return dir;
}

/** An explicit core: the MLP of layers 1.. and attention of the middle layers until about `share` of the sublayers are skipped. */
function explicitCore(layers: number, share: number): SkipPlan {
  const want = Math.max(1, Math.round(2 * layers * share));
  const mlp = Array.from({ length: layers - 1 }, (_, i) => i + 1).slice(0, want);
  const attn = Array.from({ length: layers - 2 }, (_, i) => i + 1).slice(0, Math.max(0, want - mlp.length));
  return { skipAttention: attn, skipMlp: mlp, maskHeads: {} };
}

interface Completion {
  usage: { completion_tokens: number };
  skip: { speedup: number | null; policy_detail?: { core?: string[] } };
}

async function complete(url: string, body: Record<string, unknown>): Promise<{ ms: number; r: Completion }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const r = (await res.json()) as Completion;
  return { ms: performance.now() - t0, r };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Row {
  core: string;
  firstReported: number | null;
  /** The first core request's wall time against the same full-model request, first on a fresh server of its own. */
  firstFresh: number;
  /** The first round's full / core wall time: the core request on a fresh server against the full one right after. */
  firstMeasured: number;
  reported: number;
  measured: number;
  coreMs: number;
  fullMs: number;
}

const num = (x: number | null) => (x === null ? '-' : x.toFixed(2));

async function main(): Promise<void> {
  const model = pickModel();
  const cfg = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as { num_hidden_layers: number; hidden_size: number; num_attention_heads: number; intermediate_size: number; vocab_size: number; num_key_value_heads?: number };
  const calibrated = existsSync(join(model, 'router', 'calibration.json'));
  const cores: { name: string; skip: Record<string, unknown> }[] = calibrated
    ? targets.map((t) => ({ name: `${values.policy ?? 'latency-budget'} ${t}x`, skip: { policy: values.policy ?? 'latency-budget', target_speedup: t } }))
    : [(() => {
        const plan = explicitCore(cfg.num_hidden_layers, Number(values['core-share'] ?? 0.5));
        const share = planCost(plan, { numLayers: cfg.num_hidden_layers, numHeads: cfg.num_attention_heads, numKvHeads: cfg.num_key_value_heads, hiddenSize: cfg.hidden_size, intermediateSize: cfg.intermediate_size, vocabSize: cfg.vocab_size }).removedFraction;
        return { name: `explicit core (${(100 * share).toFixed(0)}% of FLOPs)`, skip: { policy: 'explicit', plan: planToWire(plan) } };
      })()];
  const explicit = { policy: 'explicit', plan: planToWire(explicitCore(cfg.num_hidden_layers, Number(values['core-share'] ?? 0.5))) };
  const besideSkip = (spec: string): Record<string, unknown> => {
    const [policy, target] = spec.split(':');
    if (policy === 'explicit') return explicit;
    return target ? { policy, target_speedup: Number(target) } : { policy };
  };
  const rows: Row[] = [];
  const args = ['--model', model, '--http-port', '0', '--grpc-port=-1', '--max-batch', String(maxBatch), '--log-level', values['server-log'] ? 'debug' : 'info'];
  if (values.threads) args.push('--threads', values.threads);
  const body = { prompt: 'Q: Tom has 3 apples and buys 5 more. How many apples does he have?\nA:', n, max_tokens: maxTokens, ignore_eos: true, temperature: 0.8, seed: 11 };
  const stopServer = (child: ChildProcess) =>
    new Promise<void>((res) => {
      child.once('exit', () => res());
      child.kill('SIGTERM');
    });
  for (const [ci, core] of cores.entries()) {
    // The full-model request as the first request of a fresh server of its own.
    const twin = await spawnServer(args);
    const firstFull = await complete(twin.url, { ...body, skip: { policy: 'none' } }).finally(() => stopServer(twin.child));
    // A fresh server per core: its first request is the skip-core one, as for a new user.
    const { child, url, output } = await spawnServer(args);
    try {
      const ratios: number[] = [];
      const reported: number[] = [];
      const coreMs: number[] = [];
      const fullMs: number[] = [];
      let first: number | null = null;
      let firstMeasured = NaN;
      let firstFresh = NaN;
      let stop = false;
      let callers: Promise<void>[] = [];
      const loop = async (skip: Record<string, unknown>, seed: number) => {
        while (!stop) await complete(url, { ...body, seed, skip });
      };
      for (let r = 0; r < rounds; r++) {
        if (r === 1) callers = beside.map((spec, i) => loop(besideSkip(spec), 100 + i));
        const coreFirst = r % 2 === 0;
        const run = async (withCore: boolean) => complete(url, { ...body, skip: withCore ? core.skip : { policy: 'none' } });
        const a = await run(coreFirst);
        const b = await run(!coreFirst);
        const [c, f] = coreFirst ? [a, b] : [b, a];
        if (r === 0) {
          first = c.r.skip.speedup;
          firstMeasured = f.ms / c.ms;
          firstFresh = firstFull.ms / c.ms;
        }
        if (values.verbose) console.log(`${core.name} round ${r + 1}: core ${c.ms.toFixed(0)} ms (reported ${num(c.r.skip.speedup)}), full ${f.ms.toFixed(0)} ms, measured ${(f.ms / c.ms).toFixed(2)}`);
        if (c.r.skip.speedup !== null) reported.push(c.r.skip.speedup);
        ratios.push(f.ms / c.ms);
        coreMs.push(c.ms);
        fullMs.push(f.ms);
      }
      stop = true;
      await Promise.all(callers);
      rows.push({ core: core.name, firstReported: first, firstFresh, firstMeasured, reported: median(reported), measured: median(ratios), coreMs: median(coreMs), fullMs: median(fullMs) });
    } finally {
      await stopServer(child);
      if (values['server-log']) writeFileSync(cores.length > 1 ? `${values['server-log']}.${ci + 1}` : values['server-log'], output());
    }
  }
  const pad = (s: string, k: number) => s.padEnd(k);
  console.log(`\nmodel ${model}: ${cfg.num_hidden_layers} layers, hidden ${cfg.hidden_size}; n=${n}, ${maxTokens} tokens per candidate (ignore_eos), ${rounds} alternating rounds, fresh server per core${beside.length ? `; beside it from round 2: ${beside.join(', ')}` : ''}`);
  console.log(`${pad('core', 34)}${pad('reported (1st)', 16)}${pad('measured (1st)', 16)}${pad('vs fresh full', 15)}${pad('reported (median)', 19)}${pad('measured (median)', 19)}${pad('reported/measured', 19)}core ms / full ms`);
  for (const r of rows) {
    console.log(`${pad(r.core, 34)}${pad(num(r.firstReported), 16)}${pad(num(r.firstMeasured), 16)}${pad(num(r.firstFresh), 15)}${pad(num(r.reported), 19)}${pad(num(r.measured), 19)}${pad(num(r.reported / r.measured), 19)}${r.coreMs.toFixed(0)} / ${r.fullMs.toFixed(0)}`);
  }
  mkdirSync('bench/out', { recursive: true });
  writeFileSync('bench/out/speedup.json', JSON.stringify({ model, n, maxTokens, rounds, beside, rows }, null, 2));
}

await main();
