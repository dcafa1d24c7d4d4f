/**
 * `npm run bench:skip [-- --models smol,default[,DIR...] --batches 1,8 --contexts 128,512 --steps 16
 *   --variants plain,full,skip25,skip50,heads --threads 2 --prepack true|false --spin true|false]`
 *
 * Median decode step time on a random-weight SmolLM2-135M-shaped model (generated here in a temp
 * dir) and on models/default when present, for: (a) a plain graph without switches or masks,
 * (b) the full plan, (c) skip cores removing ~25% and ~50% of per-token FLOPs, (d) per-row head
 * masks. Prints measured speedup next to the ideal 1/(1-f), the tax of (b) over (a), tokens/s
 * beside reference figures, and peak RSS while loading.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { loadLocalModel, type LocalModel } from '../src/model/local-model.ts';
import type { ModelInfo } from '../src/model/model-info.ts';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { FULL_PLAN, planCost, type SkipPlan } from '../src/plans/plan.ts';
import { Rng } from '../src/util/rng.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'smol,default' },
    batches: { type: 'string', default: '1,8' },
    contexts: { type: 'string', default: '128,512' },
    steps: { type: 'string', default: '16' },
    variants: { type: 'string', default: 'plain,full,skip25,skip50,heads' },
    threads: { type: 'string', default: '2' },
    prepack: { type: 'string', default: 'true' },
    /** onnxruntime intra-op spinning; default: the runtime's own default. */
    spin: { type: 'string' },
  },
});
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
const batches = list(values.batches!).map(Number);
const contexts = list(values.contexts!).map(Number);
const steps = Number(values.steps);
const variants = list(values.variants!);
const threads = Number(values.threads);
const prepack = values.prepack !== 'false';
const spin = values.spin === undefined ? undefined : values.spin === 'true';
const REF = { b1: { llamacpp: 36, torch: 9.6 }, b8: { llamacpp: 98, torch: 38 } };

const pct = (a: number, b: number) => `${(((a - b) / b) * 100).toFixed(1)}%`;
/** Linux RSS split: anonymous (heap) vs file-backed (clean mapped weights, reclaimable), MiB. */
function rssSplit(): string {
  try {
    const st = readFileSync('/proc/self/status', 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(st)?.[1] ?? NaN) / 1024;
    return `anonymous ${kb('RssAnon').toFixed(0)} MiB + file-backed ${kb('RssFile').toFixed(0)} MiB`;
  } catch {
    return 'split unavailable';
  }
}
const rssMiB = () => process.resourceUsage().maxRSS / 1024;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A skip core removing about `target` of the per-token FLOPs: whole layers spread over the depth, then single sublayers. */
function skipCoreFor(info: ModelInfo, target: number): SkipPlan {
  const L = info.numLayers;
  const order: number[] = [];
  for (let step = 0; order.length < L - 2; step++) {
    const l = 1 + Math.round(((step * 0.618034) % 1) * (L - 3));
    if (!order.includes(l)) order.push(l);
    if (step > 10 * L) break;
  }
  const plan: SkipPlan = { skipAttention: [], skipMlp: [], maskHeads: {} };
  const f = () => planCost(plan, info).removedFraction;
  for (const l of order) {
    const trial = { ...plan, skipAttention: [...plan.skipAttention, l], skipMlp: [...plan.skipMlp, l] };
    if (planCost(trial, info).removedFraction <= target) Object.assign(plan, trial);
  }
  for (const l of order) {
    if (plan.skipMlp.includes(l)) continue;
    for (const key of ['skipMlp', 'skipAttention'] as const) {
      const trial = { ...plan, [key]: [...plan[key], l] };
      if (Math.abs(planCost(trial, info).removedFraction - target) < Math.abs(f() - target)) Object.assign(plan, trial);
    }
  }
  return plan;
}

function headMaskPlans(info: ModelInfo, B: number): SkipPlan[] {
  const rng = new Rng(5);
  const k = Math.max(1, Math.floor(info.numHeads / 4));
  return Array.from({ length: B }, () => {
    const maskHeads: Record<number, number[]> = {};
    for (let l = 0; l < info.numLayers; l++) {
      const heads = new Set<number>();
      while (heads.size < k) heads.add(rng.nextU32() % info.numHeads);
      maskHeads[l] = [...heads];
    }
    return { skipAttention: [], skipMlp: [], maskHeads };
  });
}

interface Variant {
  name: string;
  model: LocalModel;
  parent: number;
  plans: SkipPlan[];
  f: number;
}

/**
 * Median wall time (ms) of one decode step per variant. Variants run round-robin, one step each per
 * round, so load from other processes on a shared machine hits them all alike.
 */
async function timeDecode(vs: Variant[]): Promise<{ wall: number[]; cpu: number[] }> {
  const kids = vs.map((v) => v.model.forkSeq(v.parent, v.plans.length));
  const times: number[][] = vs.map(() => []);
  const cpu: number[][] = vs.map(() => []);
  for (let s = 0; s < steps + 2; s++) {
    // Rotate the order each round so no variant always follows the same neighbour.
    for (let r = 0; r < vs.length; r++) {
      const j = (r + s) % vs.length;
      const { model, plans } = vs[j];
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await model.step(kids[j].map((seq, i) => ({ seq, tokens: [(s * 31 + i * 7) % model.info.vocabSize], plan: plans[i], logits: 'last' as const })));
      const c1 = process.cpuUsage(c0);
      if (s >= 2) {
        times[j].push(performance.now() - t0);
        cpu[j].push((c1.user + c1.system) / 1000);
      }
    }
  }
  vs.forEach((v, j) => kids[j].forEach((k) => v.model.freeSeq(k)));
  return { wall: times.map(median), cpu: cpu.map(median) };
}

async function prefillParent(m: LocalModel, ctx: number): Promise<number> {
  const seq = m.createSeq();
  const rng = new Rng(ctx);
  const tokens = Array.from({ length: ctx }, () => rng.nextU32() % m.info.vocabSize);
  for (let i = 0; i < ctx; i += 128) await m.step([{ seq, tokens: tokens.slice(i, i + 128), plan: FULL_PLAN, logits: 'last' }]);
  return seq;
}

async function benchModel(name: string, dir: string): Promise<void> {
  const ck = openCheckpoint(dir);
  const weightsMiB = ck.f32Bytes / 2 ** 20;
  const before = rssMiB();
  const sw = await loadLocalModel({ modelDir: dir, threads, stagingSlots: 4, prepack, spin });
  const loadPeak = rssMiB();
  const loadedRss = process.memoryUsage().rss / 2 ** 20;
  const split = rssSplit();
  const info = sw.info;
  const plain = variants.includes('plain') ? await loadLocalModel({ modelDir: dir, threads, plain: true, prepack, spin }) : null;
  console.log(`\n## ${name}: ${info.numLayers} layers, hidden ${info.hiddenSize}, ${info.numHeads} heads / ${info.numKvHeads} KV, vocab ${info.vocabSize}, f32 weights ${weightsMiB.toFixed(0)} MiB, ${threads} threads`);
  console.log(
    `peak RSS while loading: ${loadPeak.toFixed(0)} MiB (${(loadPeak / weightsMiB).toFixed(2)}x weights; ${before.toFixed(0)} MiB before load, ${loadedRss.toFixed(0)} MiB once loaded: ${split})`,
  );
  const cores = { skip25: skipCoreFor(info, 0.25), skip50: skipCoreFor(info, 0.5) };
  for (const [k, p] of Object.entries(cores)) {
    console.log(`${k}: removes ${(planCost(p, info).removedFraction * 100).toFixed(1)}% FLOPs: skip_attention=[${p.skipAttention}] skip_mlp=[${p.skipMlp}]`);
  }
  console.log('\n| ctx | B | variant | FLOPs removed | step ms (wall) | step CPU ms | tokens/s | speedup vs full (wall / CPU) | ideal | of ideal (wall / CPU) | reference tok/s |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  // Contexts are clamped so prompt + timed steps fit the model's positions.
  for (const ctx of [...new Set(contexts.map((c) => Math.min(c, info.maxPositions - steps - 4)))]) {
    const parentSw = await prefillParent(sw, ctx);
    const parentPlain = plain ? await prefillParent(plain, ctx) : -1;
    for (const B of batches) {
      const ref = B === 1 ? REF.b1 : B === 8 ? REF.b8 : null;
      const refText = ref ? `llama.cpp ${ref.llamacpp}, PyTorch ${ref.torch}` : '';
      const full = Array.from({ length: B }, () => FULL_PLAN);
      const vs: Variant[] = [{ name: '(b) full plan', model: sw, parent: parentSw, plans: full, f: 0 }];
      if (plain) vs.push({ name: '(a) plain graph', model: plain, parent: parentPlain, plans: full, f: 0 });
      for (const k of ['skip25', 'skip50'] as const) {
        if (!variants.includes(k)) continue;
        const p = cores[k];
        vs.push({ name: `(c) skip core ${k.slice(4)}%`, model: sw, parent: parentSw, plans: Array.from({ length: B }, () => p), f: planCost(p, info).removedFraction });
      }
      if (variants.includes('heads')) vs.push({ name: '(d) per-row head masks', model: sw, parent: parentSw, plans: headMaskPlans(info, B), f: 0 });
      const { wall, cpu } = await timeDecode(vs);
      const order = vs.map((v, j) => ({ v, ms: wall[j], cpu: cpu[j] })).sort((a, b) => a.v.name.localeCompare(b.v.name));
      for (const { v, ms: t, cpu: c } of order) {
        const speed = wall[0] / t;
        const cpuSpeed = cpu[0] / c;
        const ideal = 1 / (1 - v.f);
        const tax = v.model === plain ? ` (tax of full plan: wall ${pct(wall[0], t)}, CPU ${pct(cpu[0], c)})` : '';
        const ofIdeal = v.f > 0 ? `${(speed / ideal).toFixed(2)} / ${(cpuSpeed / ideal).toFixed(2)}` : '';
        console.log(
          `| ${ctx} | ${B} | ${v.name}${tax} | ${(v.f * 100).toFixed(1)}% | ${t.toFixed(1)} | ${c.toFixed(1)} | ${((B * 1000) / t).toFixed(1)} | ${speed.toFixed(2)} / ${cpuSpeed.toFixed(2)} | ${ideal.toFixed(2)} | ${ofIdeal} | ${refText} |`,
        );
      }
    }
    sw.freeSeq(parentSw);
    plain?.freeSeq(parentPlain);
  }
  await sw.close();
  await plain?.close();
  console.log(`peak RSS overall: ${rssMiB().toFixed(0)} MiB`);
}

/** Single-thread read bandwidth right now (GB/s): the machine is shared, so this says how busy it is. */
function readBandwidth(): number {
  const a = new Float64Array(2 ** 25).fill(1); // 256 MiB
  let best = Infinity;
  let sink = 0;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    for (let i = 0; i < a.length; i += 4) sink += a[i] + a[i + 1] + a[i + 2] + a[i + 3];
    best = Math.min(best, performance.now() - t0);
  }
  if (sink === -1) console.log(sink);
  return a.byteLength / (best / 1000) / 1e9;
}

console.log(`single-thread memory read bandwidth now: ${readBandwidth().toFixed(1)} GB/s; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
const models = list(values.models!);
if (models.includes('smol')) {
  const t0 = performance.now();
  const dir = makeCheckpoint({ layers: 30, hidden: 576, heads: 9, kvHeads: 3, intermediate: 1536, vocab: 49152, maxPositions: 2048, tied: true, tokenizer: false, seed: 135 });
  console.log(`generated random SmolLM2-135M-shaped checkpoint in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  try {
    await benchModel('SmolLM2-135M shape (random weights)', dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
if (models.includes('default')) {
  if (existsSync('models/default/config.json')) await benchModel('models/default', 'models/default');
  else console.log('\nmodels/default not present: skipped');
}
// Any other entry is a checkpoint directory.
for (const dir of models.filter((m) => m !== 'smol' && m !== 'default')) await benchModel(dir, dir);
