/**
 * Worker-thread side of the runner: owns the LocalModel (session, KV cache), the plans the main
 * thread defined and the per-sequence samplers, and answers requests from runner.ts. Logits
 * buffers are transferred, not copied, and only when a row asks for logits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SkipPlan } from '../plans/plan.ts';
import { loadLocalModel, type LoadOptions, type LocalModel } from './local-model.ts';
import { RowSampling } from './row-sampling.ts';
import { topLogprobs } from '../sampling/logprobs.ts';
import type { SampledToken, SamplerSpec, ScoredPosition, SpecRow, StepOptions, StepRow } from './runner-types.ts';
import { speculativeCycle, type CycleResult, type CycleRuntime } from './speculative-cycle.ts';
import { epochMs, type PackedStep, type WireRow, type WorkerRequest } from './worker-protocol.ts';
import { GuideCache, type TokenTexts } from '../sampling/guided/token-guide.ts';
import { vocabTexts } from '../sampling/guided/vocab-texts.ts';
import { TextTokenizer } from '../text/tokenizer.ts';

const port = parentPort!;
let model: LocalModel;
const plans = new Map<number, SkipPlan>();
/** The vocabulary as text, built at the first guided request (a second or so for 49k tokens). */
let vocab: TokenTexts | null = null;
const sampling = new RowSampling(
  new GuideCache(() => (vocab ??= vocabTexts(TextTokenizer.load((workerData as LoadOptions).modelDir), model.info.vocabSize, model.info.eosTokenIds))),
);

function specOf(r: WireRow, i: number): SamplerSpec | undefined {
  if (r.sample === undefined) return undefined;
  const spec = r.sample === 1 ? sampling.specOf(r.seq) : r.sample;
  if (!spec) throw new Error(`rows[${i}].sample: sequence ${r.seq} has no sampler spec yet`);
  return spec;
}

/** Each position's log-probability of the token that followed it, and its `k` most likely tokens. */
function scorePositions(l: Float32Array, lse: Float32Array | number[], V: number, s: { targets: number[]; k: number }): (ScoredPosition | null)[] {
  return s.targets.map((t, p) => {
    if (t < 0) return null;
    const row = l.subarray(p * V, (p + 1) * V);
    if (!(t < V)) throw new Error(`score: target ${t} is not a token id`);
    return { logprob: row[t]! - lse[p]!, top: s.k > 0 ? topLogprobs(row, s.k, lse[p]!) : [] };
  });
}

/** A step row with its plan and sampler spec resolved in the worker. */
interface ResolvedRow extends Omit<WireRow, 'plan' | 'sample'> {
  plan: SkipPlan;
  spec: SamplerSpec | undefined;
}

/** Takes the plans a message defines and forgets those it drops. */
function definePlans(msg: { plans: [number, SkipPlan][]; drop: number[] }): void {
  for (const id of msg.drop) plans.delete(id);
  for (const [id, plan] of msg.plans) plans.set(id, plan);
}

function planOf(id: number, field: string): SkipPlan {
  const plan = plans.get(id);
  if (!plan) throw new Error(`${field}: unknown plan id ${id}`);
  return plan;
}

async function step(msg: Extract<WorkerRequest, { op: 'step' }>): Promise<PackedStep> {
  const startedAt = epochMs();
  definePlans(msg);
  const rows = msg.rows.map((r, i): ResolvedRow => ({ ...r, plan: planOf(r.plan, `rows[${i}].plan`), spec: specOf(r, i) }));
  return runRows(rows, startedAt, msg.opts);
}

/** Runs resolved rows: feeds, the model step, sampling and scoring in place; logits packed for transfer. */
async function runRows(rows: ResolvedRow[], startedAt: number, opts?: StepOptions): Promise<PackedStep> {
  const fed = rows.map(() => 0);
  const run: { row: StepRow; at: number }[] = [];
  rows.forEach((r, i) => {
    if (r.spec) sampling.check(r.seq, r.spec);
    let tokens = r.tokens;
    if (r.feedSampled) {
      const t = sampling.feedToken(r.seq);
      if (t === null) return; // the sequence drew a stop token: nothing to run
      tokens = [t];
    }
    fed[i] = tokens.length;
    if (r.score && r.score.targets.length !== tokens.length) throw new Error(`rows[${i}].score: ${r.score.targets.length} targets for ${tokens.length} tokens`);
    run.push({ row: { seq: r.seq, tokens, plan: r.plan, logits: r.logits === 'all' || r.score ? 'all' : 'last', embed: r.embed }, at: i });
  });
  const out = await model.step(run.map((x) => x.row), opts);
  const t0 = performance.now();
  const sampled: (SampledToken | null)[] = rows.map(() => null);
  const logitsOf: (Float32Array | null)[] = rows.map(() => null);
  const embeddings: (Float32Array | null)[] = rows.map(() => null);
  const scored: ((ScoredPosition | null)[] | null)[] = rows.map(() => null);
  const V = model.info.vocabSize;
  run.forEach(({ at }, j) => {
    const r = rows[at]!;
    const l = out.logits[j];
    const last = l.subarray(l.length - V);
    const lse = out.logsumexp[j][out.logsumexp[j].length - 1];
    if (r.spec) sampled[at] = sampling.sample(r.seq, r.spec, last, lse);
    else sampling.retain(r.seq, last, lse);
    if (r.score) scored[at] = scorePositions(l, out.logsumexp[j], V, r.score);
    if (r.logits !== 'none') logitsOf[at] = r.logits === 'last' ? last : l;
    embeddings[at] = out.embeddings[j];
  });
  const sampleMs = performance.now() - t0;
  const buffers: ArrayBuffer[] = [];
  const logits = logitsOf.map((l) => {
    if (!l) return null;
    let i = buffers.indexOf(l.buffer as ArrayBuffer);
    if (i < 0) i = buffers.push(l.buffer as ArrayBuffer) - 1;
    return { buf: i, offset: l.byteOffset, length: l.length };
  });
  const timing = { startedAt, prepMs: out.prepMs, runMs: out.runMs, afterMs: out.afterMs, sampleMs, repliedAt: 0 };
  return { buffers, logits, embeddings, sampled, scored, fed, runMs: out.runMs, graphs: out.graphs, buildMs: out.buildMs, timing };
}

/** A speculative cycle here, next to the model: its k + 1 runs cost no round trips. */
async function speculate(msg: Extract<WorkerRequest, { op: 'speculate' }>): Promise<CycleResult & { lengths: number[] }> {
  definePlans(msg);
  const rows: SpecRow[] = msg.rows.map((r, i) => {
    const spec = r.spec === 1 ? sampling.specOf(r.seq) : r.spec;
    if (!spec) throw new Error(`rows[${i}].spec: sequence ${r.seq} has no sampler spec yet`);
    return { seq: r.seq, last: r.last, plan: planOf(r.plan, `rows[${i}].plan`), spec, maxDraft: r.maxDraft };
  });
  const runtime: CycleRuntime = {
    vocabSize: model.info.vocabSize,
    step: async (rs) => {
      const packed = await runRows(rs.map((r) => ({ seq: r.seq, tokens: r.tokens, plan: r.plan, logits: r.logits, spec: r.sample, ...(r.score ? { score: r.score } : {}) })), epochMs());
      // Views of this run's outputs: the cycle reads them before the next run.
      return { ...packed, logits: packed.logits.map((l) => (l ? new Float32Array(packed.buffers[l.buf]!, l.offset, l.length) : new Float32Array(0))) };
    },
    truncateSeqs: (cuts) => cuts.forEach((c) => model.truncateSeq(c.seq, c.length)),
    seqLength: (seq) => model.seqLength(seq),
  };
  const result = await speculativeCycle(runtime, rows, { draft: planOf(msg.draft, 'draft'), tokens: msg.tokens });
  return { ...result, lengths: rows.map((r) => model.seqLength(r.seq)) };
}

async function handle(msg: WorkerRequest): Promise<unknown> {
  switch (msg.op) {
    case 'create':
      return model.createSeq();
    case 'fork':
      return model.forkSeq(msg.src, msg.count, msg.length);
    case 'forkSampled': {
      const seqs = model.forkSeq(msg.src, msg.specs.length);
      try {
        return { seqs, sampled: sampling.forkSample(msg.src, seqs, msg.specs) };
      } catch (e) {
        for (const s of seqs) (model.freeSeq(s), sampling.free(s));
        throw e;
      }
    }
    case 'free':
      model.freeSeq(msg.seq);
      sampling.free(msg.seq);
      return null;
    case 'speculate':
      return speculate(msg);
    case 'prepareCores':
      return model.prepareCores(msg.cores);
    case 'close':
      await model.close();
      return null;
    case 'step':
      return step(msg);
    case 'block':
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, msg.ms);
      return null;
  }
}

/** Requests run one at a time, in arrival order: a step never overlaps another step or a fork. */
let queue: Promise<void> = Promise.resolve();

function reply(msg: WorkerRequest, result: unknown): void {
  if (msg.op === 'step') {
    const packed = result as PackedStep;
    packed.timing.repliedAt = epochMs();
    try {
      port.postMessage({ id: msg.id, ok: true, result }, packed.buffers);
      return;
    } catch {
      /* buffer not transferable: fall through and copy */
    }
  }
  port.postMessage({ id: msg.id, ok: true, result });
}

port.on('message', (msg: WorkerRequest) => {
  queue = queue.then(() =>
    handle(msg).then(
      (result) => reply(msg, result),
      (err: unknown) => port.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    ),
  );
});

try {
  model = await loadLocalModel(workerData as LoadOptions);
  port.postMessage({ ready: true, info: model.info, runtime: model.runtime });
} catch (err) {
  port.postMessage({ ready: false, error: err instanceof Error ? err.message : String(err) });
}
