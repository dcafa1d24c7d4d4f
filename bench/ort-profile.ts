/**
 * `npm run bench:ort-profile [-- --model smol|default|DIR --graph dense|switched --batches 1,8
 *   --context 128 --steps 20 --threads 2]`
 *
 * Where a decode step's milliseconds go inside onnxruntime: runs `steps` decode steps with
 * onnxruntime's profiler on, then prints per batch size the run time, the time inside kernels and
 * the rest (the executor between nodes), the kernel time per operator type, and the projection
 * GEMMs' effective read bandwidth (weight bytes / time). `--graph dense` is the plain graph the
 * full plan runs on (the dense path); `switched` is the graph with the sublayer switches.
 * An `If` row is the switch's own time, its branch's nodes counted in their own rows. Profiling
 * adds a little time per node; the split between kinds of time is what it is for.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadLocalModel } from '../src/model/local-model.ts';
import { FULL_PLAN } from '../src/plans/plan.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'smol' },
    graph: { type: 'string', default: 'dense' },
    batches: { type: 'string', default: '1,8' },
    context: { type: 'string', default: '128' },
    steps: { type: 'string', default: '20' },
    threads: { type: 'string', default: '2' },
  },
});

interface ProfileEvent {
  cat?: string;
  name: string;
  dur: number;
  ts: number;
  args?: { op_name?: string; input_type_shape?: Record<string, number[]>[]; output_type_shape?: Record<string, number[]>[] };
}

const ms = (us: number, steps: number) => (us / steps / 1000).toFixed(2);

/** Prints the breakdown of the last `steps` runs of one profile. */
function report(events: ProfileEvent[], steps: number, B: number): void {
  const runs = events.filter((e) => e.name === 'model_run').slice(-steps);
  const from = runs[0]!.ts;
  const all = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= from);
  // An If's time includes its branch's nodes, which are profiled too: keep only its own time.
  const nodes = all.map((n) => {
    if (n.args?.op_name !== 'If') return n;
    const inner = all.filter((x) => x !== n && x.args?.op_name !== 'If' && x.ts >= n.ts && x.ts + x.dur <= n.ts + n.dur).reduce((a, x) => a + x.dur, 0);
    return { ...n, dur: n.dur - inner };
  });
  const runUs = runs.reduce((a, r) => a + r.dur, 0);
  const kernelUs = nodes.reduce((a, n) => a + n.dur, 0);
  const byOp = new Map<string, { us: number; n: number }>();
  let gemmBytes = 0;
  let gemmUs = 0;
  for (const n of nodes) {
    const op = n.args?.op_name ?? '?';
    const x = byOp.get(op) ?? { us: 0, n: 0 };
    x.us += n.dur;
    x.n++;
    byOp.set(op, x);
    if (op === 'Gemm') {
      const k = Object.values(n.args!.input_type_shape![0]!)[0]!.at(-1)!;
      const out = Object.values(n.args!.output_type_shape![0]!)[0]!.at(-1)!;
      gemmBytes += k * out * 4;
      gemmUs += n.dur;
    }
  }
  console.log(`\n### batch ${B}: ${ms(runUs, steps)} ms per run, ${ms(kernelUs, steps)} in kernels, ${ms(runUs - kernelUs, steps)} between them (${(nodes.length / steps).toFixed(0)} nodes per run, ${((runUs - kernelUs) / nodes.length).toFixed(1)} µs each)\n`);
  console.log(`projection GEMMs: ${ms(gemmUs, steps)} ms for ${(gemmBytes / steps / 2 ** 20).toFixed(0)} MiB of f32 weights per run = ${(gemmBytes / (gemmUs * 1e3)).toFixed(1)} GB/s\n`);
  console.log('| operator | ms per run | nodes per run | share of the run |');
  console.log('|---|---:|---:|---:|');
  for (const [op, x] of [...byOp].sort((a, b) => b[1].us - a[1].us)) {
    console.log(`| ${op} | ${ms(x.us, steps)} | ${(x.n / steps).toFixed(0)} | ${((100 * x.us) / runUs).toFixed(1)}% |`);
  }
}

const steps = Number(values.steps);
const context = Number(values.context);
const generated = values.model === 'smol';
const dir = generated
  ? makeCheckpoint({ layers: 30, hidden: 576, heads: 9, kvHeads: 3, intermediate: 1536, vocab: 49152, maxPositions: 2048, tied: true, tokenizer: false, seed: 135 })
  : values.model === 'default'
    ? 'models/default'
    : values.model!;
const out = mkdtempSync(join(tmpdir(), 'skipserve-ort-profile-'));
try {
  console.log(`model ${values.model} (${dir}), ${values.graph} graph, context ${context}, ${steps} profiled decode steps, ${values.threads} threads; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  for (const B of values.batches!.split(',').map(Number)) {
    const prefix = join(out, `b${B}`);
    const m = await loadLocalModel({
      modelDir: dir,
      threads: Number(values.threads),
      densePath: false,
      plain: values.graph === 'dense',
      sessionOptions: { enableProfiling: true, profileFilePrefix: prefix },
    });
    const vocab = m.info.vocabSize;
    const seqs = Array.from({ length: B }, () => m.createSeq());
    await m.step(seqs.map((seq, b) => ({ seq, tokens: Array.from({ length: context }, (_, i) => (i * 7 + b) % vocab), plan: FULL_PLAN, logits: 'last' as const })));
    for (let s = 0; s < steps; s++) await m.step(seqs.map((seq, b) => ({ seq, tokens: [(s * 31 + b) % vocab], plan: FULL_PLAN, logits: 'last' as const })));
    await m.close();
    const file = readdirSync(out).find((f) => f.startsWith(`b${B}`) && f.endsWith('.json'))!;
    report(JSON.parse(readFileSync(join(out, file), 'utf8')) as ProfileEvent[], steps, B);
  }
} finally {
  rmSync(out, { recursive: true, force: true });
  if (generated) rmSync(dir, { recursive: true, force: true });
}
