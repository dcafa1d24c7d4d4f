/**
 * `npm run bench:skip [-- --models smol,default[,DIR...] --batches 1,8 --contexts 128,512 --rounds 6
 *   --steps 4 --variants plain,full,switched,skip25,skip50,heads,int8,e2e,llama,floor[,spin] --threads 2
 *   --prepack true|false --spin on|off|auto]`
 *
 * Decode on a random-weight SmolLM2-135M-shaped model (generated here in a temp dir) and on
 * models/default when present, every variant in one round-robin (each round runs `steps` steps of
 * each variant, in rotating order, so load from other processes hits them alike; medians over
 * rounds): (a) a plain graph without switches, (b) the full plan (on the dense path, and through
 * the switched graph as with --dense-path off), (c) skip cores removing ~25% / ~50% of the FLOPs
 * (on their core graph, and through the switched graph), (d) per-row head masks, (e) int8 weights; end to end through the worker runner
 * (logits to the main thread vs sampling in the worker vs pipelined steps, with a per-token
 * timeline); llama.cpp on the same weights (GGUF written here) when LLAMA_BENCH names a build; and
 * (h) the memory-bandwidth floor: the time for as many threads to read the weights' bytes once,
 * measured in the same round-robin so it sees the same load. Prints the load average per table.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openCheckpoint, type Checkpoint } from '../src/model/checkpoint.ts';
import { loadLocalModel, type LocalModel } from '../src/model/local-model.ts';
import { loadRunner } from '../src/model/runner.ts';
import type { SamplingRunner, StepTiming } from '../src/model/runner-types.ts';
import { parseSpin } from '../src/model/spin.ts';
import { FULL_PLAN, planCost, type SkipPlan } from '../src/plans/plan.ts';
import { Rng } from '../src/util/rng.ts';
import { TextTokenizer } from '../src/text/tokenizer.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';
import { E2eSession, type E2eMode } from './decode-e2e.ts';
import { exportGguf } from './llama-cpp/gguf-export.ts';
import { llamaBatchedDecode, llamaCppFromEnv, llamaDecode, type LlamaCppBins } from './llama-cpp/run.ts';
import { BandwidthProbe, measureBandwidth } from './memory-bandwidth.ts';
import { headMaskPlans, skipCoreFor } from './skip-plans.ts';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'smol,default' },
    batches: { type: 'string', default: '1,8' },
    contexts: { type: 'string', default: '128,512' },
    rounds: { type: 'string', default: '6' },
    steps: { type: 'string', default: '4' },
    variants: { type: 'string', default: 'plain,full,switched,skip25,skip50,heads,int8,e2e,llama,floor' },
    threads: { type: 'string', default: '2' },
    prepack: { type: 'string', default: 'true' },
    spin: { type: 'string' },
  },
});
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
const batches = list(values.batches!).map(Number);
const contexts = list(values.contexts!).map(Number);
const rounds = Number(values.rounds);
const steps = Number(values.steps);
const want = new Set(list(values.variants!));
const threads = Number(values.threads);
const prepack = values.prepack !== 'false';
const spin = parseSpin(values.spin);
const plainAsked = () => want.has('plain');
const llama = want.has('llama') ? llamaCppFromEnv() : { missing: 'llama variant not asked' };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** Peak RSS since the last reset, MiB (VmHWM on Linux, the process maximum elsewhere). */
function rssMiB(): number {
  try {
    return Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
  } catch {
    return process.resourceUsage().maxRSS / 1024;
  }
}
/** Resets the peak-RSS mark (Linux), so the next peak is the load's own. */
function resetPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    /* not Linux: the peak then includes what ran before */
  }
}
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');

type Kind = 'step' | 'e2e' | 'llama' | 'floor';
interface Variant {
  name: string;
  kind: Kind;
  /** FLOPs removed (skip cores), int8 or f32 weights: what the ratio columns compare against. */
  f: number;
  weights: 'f32' | 'int8';
  run: () => Promise<{ wall: number; cpu: number | null; stages?: StepTiming & { mainMs: number } }>;
  close?: () => Promise<void> | void;
}

/** One round = `steps` decode steps of B rows, forked once from `parent` and freed at the end. */
function stepVariant(name: string, m: LocalModel, parent: number, plans: SkipPlan[], f: number): Variant {
  const kids = m.forkSeq(parent, plans.length);
  let s = 0;
  return {
    name,
    kind: 'step',
    f,
    weights: m.runtime.weights,
    run: async () => {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      for (let i = 0; i < steps; i++, s++) await m.step(kids.map((seq, b) => ({ seq, tokens: [(s * 31 + b * 7) % m.info.vocabSize], plan: plans[b], logits: 'last' as const })));
      const c = process.cpuUsage(c0);
      return { wall: (performance.now() - t0) / steps, cpu: (c.user + c.system) / 1000 / steps };
    },
    close: () => kids.forEach((k) => m.freeSeq(k)),
  };
}

async function prefill(m: { createSeq(): number | Promise<number>; step: LocalModel['step'] | SamplingRunner['step'] }, info: { vocabSize: number }, ctx: number): Promise<number> {
  const seq = await m.createSeq();
  const rng = new Rng(ctx);
  const tokens = Array.from({ length: ctx }, () => rng.nextU32() % info.vocabSize);
  for (let i = 0; i < ctx; i += 128) await m.step([{ seq, tokens: tokens.slice(i, i + 128), plan: FULL_PLAN, logits: 'last' }]);
  return seq;
}

/** Runs every variant `rounds` times (plus one warm-up round), rotating the order each round. */
async function roundRobin(vs: Variant[]): Promise<{ wall: number; cpu: number | null; stages?: Record<string, number> }[]> {
  const res = vs.map(() => ({ wall: [] as number[], cpu: [] as number[], stages: [] as Record<string, number>[] }));
  for (let r = 0; r <= rounds; r++) {
    for (let i = 0; i < vs.length; i++) {
      const j = (i + r) % vs.length;
      const x = await vs[j].run();
      if (r === 0) continue;
      res[j].wall.push(x.wall);
      if (x.cpu !== null) res[j].cpu.push(x.cpu);
      if (x.stages) res[j].stages.push({ ...x.stages });
    }
  }
  return res.map((x) => ({
    wall: median(x.wall),
    cpu: x.cpu.length ? median(x.cpu) : null,
    stages: x.stages.length ? Object.fromEntries(Object.keys(x.stages[0]).map((k) => [k, median(x.stages.map((s) => s[k]))])) : undefined,
  }));
}

async function benchModel(name: string, dir: string, ck: Checkpoint, bw: number): Promise<void> {
  const info = ck.info;
  const opts = { modelDir: dir, threads, stagingSlots: 4, prepack, spin };
  // The first model a process loads ran 5-12% slower than later identical ones in side-by-side runs;
  // an unmeasured one loaded first keeps that off the comparisons.
  const warm = plainAsked() ? await loadLocalModel(opts) : null;
  resetPeakRss();
  const before = rssMiB();
  const sw = await loadLocalModel(opts);
  const loadPeak = rssMiB();
  const plain = want.has('plain') ? await loadLocalModel({ ...opts, plain: true }) : null;
  const switched = want.has('switched') ? await loadLocalModel({ ...opts, densePath: false }) : null;
  const q8 = want.has('int8') ? await loadLocalModel({ ...opts, weights: 'int8' }) : null;
  const spun = want.has('spin') ? await loadLocalModel({ ...opts, spin: 'on' }) : null;
  const runner = want.has('e2e') ? await loadRunner(opts) : null;
  const runnerQ8 = want.has('e2e') && q8 ? await loadRunner({ ...opts, weights: 'int8' }) : null;
  const probe = want.has('floor') ? new BandwidthProbe(threads, ck.f32Bytes) : null;
  const decoder = existsSync(join(dir, 'tokenizer.json')) ? TextTokenizer.load(dir) : undefined;
  const f32Bytes = ck.f32Bytes;
  const int8Bytes = ck.f32Bytes / 4 + (ck.f32Bytes / 4 / 32) * 4;
  console.log(`\n## ${name}: ${info.numLayers} layers, hidden ${info.hiddenSize}, ${info.numHeads} heads / ${info.numKvHeads} KV, vocab ${info.vocabSize}, f32 weights ${(f32Bytes / 2 ** 20).toFixed(0)} MiB, ${threads} threads, ${sw.runtime.spinReason}`);
  console.log(`peak RSS while loading the f32 model: ${(loadPeak - before).toFixed(0)} MiB above ${before.toFixed(0)} MiB (${((loadPeak - before) / (f32Bytes / 2 ** 20)).toFixed(2)}x weights)`);
  console.log(`bandwidth floor at the start (best of 5 at ${bw.toFixed(1)} GB/s): f32 ${((f32Bytes / bw / 1e9) * 1000).toFixed(1)} ms/step = ${((bw * 1e9) / f32Bytes).toFixed(1)} steps/s; int8 ${((int8Bytes / bw / 1e9) * 1000).toFixed(1)} ms/step = ${((bw * 1e9) / int8Bytes).toFixed(1)} steps/s; rows (h) measure it in the round-robin`);
  if (!decoder) console.log('end-to-end rows: no tokenizer in this checkpoint, so they do not detokenize');
  const cores = { skip25: skipCoreFor(info, 0.25), skip50: skipCoreFor(info, 0.5) };
  let ggufs: { f32: string; q8: string; tmp: string } | null = null;
  if (!('missing' in llama) && !ck.config.attentionBias) {
    const tmp = mkdtempSync(join(tmpdir(), 'skipserve-gguf-'));
    ggufs = { f32: process.env.LLAMA_GGUF ?? join(tmp, 'f32.gguf'), q8: join(tmp, 'q8_0.gguf'), tmp };
    if (!process.env.LLAMA_GGUF) exportGguf(ck, ggufs.f32, 'F32');
    exportGguf(ck, ggufs.q8, 'Q8_0');
  }
  console.log(`llama.cpp: ${'missing' in llama ? `not measured: ${llama.missing}` : ggufs ? `${llama.bench} on ${ggufs.f32} and ${ggufs.q8} (written from this checkpoint)` : 'not measured: q/k/v biases are not exported'}`);
  for (const ctx of [...new Set(contexts.map((c) => Math.min(c, info.maxPositions - (rounds + 1) * steps * 2 - 4)))]) {
    const parents = new Map<object, number>();
    for (const m of [sw, plain, switched, q8, spun, runner, runnerQ8]) if (m) parents.set(m, await prefill(m as LocalModel, info, ctx));
    for (const B of batches) {
      const full = Array.from({ length: B }, () => FULL_PLAN);
      const vs: Variant[] = [stepVariant('(b) full plan', sw, parents.get(sw)!, full, 0)];
      if (plain) vs.push(stepVariant('(a) plain graph', plain, parents.get(plain)!, full, 0));
      if (switched) vs.push(stepVariant('(b) full plan, switched graph (--dense-path off)', switched, parents.get(switched)!, full, 0));
      for (const k of ['skip25', 'skip50'] as const) {
        if (!want.has(k)) continue;
        const f = planCost(cores[k], info).removedFraction;
        vs.push(stepVariant(`(c) skip core ${k.slice(4)}%`, sw, parents.get(sw)!, full.map(() => cores[k]), f));
        if (switched) vs.push(stepVariant(`(c) skip core ${k.slice(4)}%, switched graph`, switched, parents.get(switched)!, full.map(() => cores[k]), f));
      }
      if (want.has('heads')) vs.push(stepVariant('(d) per-row head masks', sw, parents.get(sw)!, headMaskPlans(info, B), 0));
      if (q8) vs.push(stepVariant('(e) int8 weights, full plan', q8, parents.get(q8)!, full, 0));
      if (spun) vs.push(stepVariant('(b) full plan, spinning', spun, parents.get(spun)!, full, 0));
      const greedy = { temperature: 0, topP: 1, topK: 0 };
      const e2e = (label: string, r: SamplingRunner, mode: E2eMode, spec = greedy) => {
        const session = new E2eSession(r, parents.get(r)!, { batch: B, steps, mode, spec, plan: FULL_PLAN, decoder });
        vs.push({ name: `(f) end to end, ${label}`, kind: 'e2e', f: 0, weights: r.runtime.weights, close: () => session.close(), run: async () => {
          const x = await session.round();
          return { wall: x.wallMs, cpu: x.cpuMs, stages: x.stages };
        } });
      };
      if (runner) {
        e2e('logits to main thread, greedy', runner, 'main');
        e2e('sampled in worker, greedy', runner, 'worker');
        e2e('pipelined, greedy', runner, 'pipelined');
        e2e('pipelined, top-p 0.95 T 0.8', runner, 'pipelined', { temperature: 0.8, topP: 0.95, topK: 0 });
      }
      if (runnerQ8) e2e('int8, pipelined, greedy', runnerQ8, 'pipelined');
      if (probe) {
        const floor = (label: string, bytes: number, weights: 'f32' | 'int8') =>
          vs.push({ name: `(h) bandwidth floor: read the ${label} weights once`, kind: 'floor', f: 0, weights, run: async () => ({ wall: await probe.timeMs(bytes), cpu: null }) });
        floor('f32', f32Bytes, 'f32');
        if (q8) floor('int8', int8Bytes, 'int8');
      }
      if (ggufs && !('missing' in llama)) {
        const bins: LlamaCppBins = llama;
        const tokens = Math.max(8, steps * 4);
        const cpp = (label: string, gguf: string, weights: 'f32' | 'int8', poll: number) =>
          vs.push({ name: `(g) llama.cpp ${label}`, kind: 'llama', f: 0, weights, run: async () => {
            const tps = B === 1 ? llamaDecode(bins, gguf, { threads, depth: ctx, tokens, poll }) : llamaBatchedDecode(bins, gguf, { threads, depth: ctx, tokens, batch: B });
            return { wall: (1000 * B) / tps, cpu: null };
          } });
        cpp('f32', ggufs.f32, 'f32', 50);
        if (B === 1) cpp('f32, --poll 0', ggufs.f32, 'f32', 0);
        cpp('Q8_0', ggufs.q8, 'int8', 50);
      }
      const loadBefore = load();
      const res = await roundRobin(vs);
      for (const v of vs) await v.close?.();
      printTable(ctx, B, vs, res, loadBefore);
    }
    for (const [m, seq] of parents) await (m as LocalModel).freeSeq(seq);
  }
  for (const m of [sw, plain, switched, q8, spun, runner, runnerQ8, warm]) await m?.close();
  await probe?.close();
  if (ggufs) rmSync(ggufs.tmp, { recursive: true, force: true });
}

function printTable(ctx: number, B: number, vs: Variant[], res: Awaited<ReturnType<typeof roundRobin>>, loadBefore: string): void {
  const at = (name: string) => vs.findIndex((v) => v.name === name);
  const full = res[at('(b) full plan')];
  const cppF32 = at('(g) llama.cpp f32');
  const cppQ8 = at('(g) llama.cpp Q8_0');
  console.log(`\n### context ${ctx}, batch ${B} (load average ${loadBefore} -> ${load()})\n`);
  console.log('| variant | FLOPs removed | ms/step wall | CPU ms/step | tokens/s | vs full plan (wall / CPU) | of ideal 1/(1-f) (wall / CPU) | vs llama.cpp (same weights) |');
  console.log('|---|---|---|---|---|---|---|---|');
  const order = vs.map((v, j) => ({ v, j })).sort((a, b) => a.v.name.localeCompare(b.v.name));
  for (const { v, j } of order) {
    const r = res[j];
    const sp = full.wall / r.wall;
    const spCpu = r.cpu !== null && full.cpu !== null ? full.cpu / r.cpu : null;
    const ideal = 1 / (1 - v.f);
    const cpp = v.weights === 'int8' ? cppQ8 : cppF32;
    const vsCpp = cpp >= 0 && v.kind !== 'llama' && v.kind !== 'floor' ? (res[cpp].wall / r.wall).toFixed(2) : '';
    const cpu = r.cpu === null ? '-' : r.cpu.toFixed(1);
    console.log(`| ${v.name} | ${(v.f * 100).toFixed(1)}% | ${r.wall.toFixed(1)} | ${cpu} | ${((B * 1000) / r.wall).toFixed(1)} | ${sp.toFixed(2)} / ${spCpu?.toFixed(2) ?? '-'} | ${v.f > 0 ? `${(sp / ideal).toFixed(2)} / ${spCpu ? (spCpu / ideal).toFixed(2) : '-'}` : ''} | ${vsCpp} |`);
  }
  const e2e = order.filter(({ v }) => v.kind === 'e2e');
  if (!e2e.length) return;
  console.log('\nper-token timeline, ms per step (medians over rounds; pipelined steps wait in the worker queue while the previous one runs, so their "to worker" includes that wait):\n');
  console.log('| end-to-end variant | to worker | prep | run | after | sample (worker) | to main | main thread (sample/detok) | wall | e2e / model-step rate |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  const step = (w: 'f32' | 'int8') => res[at(w === 'int8' ? '(e) int8 weights, full plan' : '(b) full plan')];
  for (const { v, j } of e2e) {
    const s = res[j].stages!;
    const f = (k: string) => s[k].toFixed(2);
    const ref = step(v.weights);
    console.log(`| ${v.name.replace('(f) end to end, ', '')} | ${f('toWorkerMs')} | ${f('prepMs')} | ${f('runMs')} | ${f('afterMs')} | ${f('sampleMs')} | ${f('toMainMs')} | ${f('mainMs')} | ${res[j].wall.toFixed(2)} | ${ref ? (ref.wall / res[j].wall).toFixed(2) : ''} |`);
  }
}

const floorBw = await measureBandwidth(threads);
console.log(`memory read bandwidth now (onnxruntime ReduceSum, ${threads} threads, best of 5): ${floorBw.toFixed(1)} GB/s; load average ${load()}`);
const models = list(values.models!);
if (models.includes('smol')) {
  const dir = makeCheckpoint({ layers: 30, hidden: 576, heads: 9, kvHeads: 3, intermediate: 1536, vocab: 49152, maxPositions: 2048, tied: true, tokenizer: false, seed: 135 });
  try {
    await benchModel('SmolLM2-135M shape (random weights)', dir, openCheckpoint(dir), floorBw);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
if (models.includes('default')) {
  if (existsSync('models/default/config.json')) await benchModel('models/default', 'models/default', openCheckpoint('models/default'), floorBw);
  else console.log('\nmodels/default not present: skipped');
}
for (const dir of models.filter((m) => m !== 'smol' && m !== 'default')) await benchModel(dir, dir, openCheckpoint(dir), floorBw);
