/**
 * The model runtime in the current thread: onnxruntime sessions over the generated graphs
 * (graph-sessions.ts),
 * sequences with their KV caches, and the batched step. The worker (runner-worker.ts) wraps it;
 * tests and the benchmark may use it directly.
 *
 * Rows with different token counts: decode rows (1 token) run together in one run and prefill
 * rows (more tokens) in a second run, padded to the longest; padding is masked and discarded.
 */
import ort from 'onnxruntime-node';
import { validatePlan, type SkipPlan } from '../plans/plan.ts';
import { openCheckpoint, type Checkpoint, type ModelConfig } from './checkpoint.ts';
import { GraphSessions, type GraphUse } from './graph-sessions.ts';
import type { LoadOptions, RuntimeInfo } from './load-options.ts';
import { parseSpin, resolveSpin } from './spin.ts';
import { KvBuffers } from './kv-buffers.ts';
import { KvStaging, LayerKv, StagingPool, kvCapacity, type SeqState } from './kv-cache.ts';
import type { ModelInfo } from './model-info.ts';
import type { SeqId, SkipCore, StepOptions, StepRow } from './runner-types.ts';
import { sharedInputs } from './step-inputs.ts';

export type { LoadOptions, RuntimeInfo };

/** Step result with per-row logits as views into the run's output buffers ('none' rows get their last position). */
export interface LocalStepOutput {
  logits: Float32Array[];
  /** Per row: log-sum-exp of each returned logits position (the logprob normaliser). */
  logsumexp: Float32Array[];
  embeddings: (Float32Array | null)[];
  /** Wall time of the onnxruntime run(s). */
  runMs: number;
  /** Validation, feeds and KV staging before the run(s). */
  prepMs: number;
  /** KV bookkeeping after the run(s). */
  afterMs: number;
  /** The graph each run took (decode rows, then prefill rows). */
  graphs: GraphUse[];
  /** Core-graph build time since the previous step (graph-sessions.ts). */
  buildMs: number;
}

const TRUE = new ort.Tensor('bool', Uint8Array.of(1), []);
const FALSE = new ort.Tensor('bool', Uint8Array.of(0), []);

/** Loads a checkpoint and builds its sessions (graph-sessions.ts; weights go through a temp file, one tensor at a time). */
export async function loadLocalModel(opts: LoadOptions): Promise<LocalModel> {
  const ck = openCheckpoint(opts.modelDir);
  const threads = opts.threads ?? 2;
  const spin = resolveSpin(parseSpin(opts.spin) ?? 'auto', threads);
  const sessions = await GraphSessions.open(ck, opts, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { ...(opts.prepack === false ? { disable_prepacking: '1' } : {}), intra_op: { allow_spinning: spin.spin ? '1' : '0' } } },
    ...opts.sessionOptions,
  });
  return new LocalModel(ck, sessions, opts, spin);
}

export class LocalModel {
  readonly info: ModelInfo;
  /** How the session runs (for logs and benchmarks). */
  readonly runtime: RuntimeInfo;
  readonly config: ModelConfig;
  private seqs = new Map<SeqId, SeqState>();
  private nextId = 1;
  private planCache = new WeakMap<SkipPlan, { skipA: Set<number>; skipM: Set<number>; heads: Map<number, number[]> }>();
  private decodeStaging: StagingPool;
  /** Recycled KV arrays of freed sequences. */
  private readonly kvBuffers = new KvBuffers();
  private prefillStaging: KvStaging;
  /** ort.Tensor wrappers of staging buffers (a buffer keeps its shape while it lives) and shared constants. */
  private tensors = new WeakMap<Float32Array, ort.Tensor>();
  private constants = new Map<string, ort.Tensor>();
  private maxBatch: number;

  constructor(
    ck: Checkpoint,
    /** The switched, masked and core graphs' sessions. */
    readonly sessions: GraphSessions,
    private opts: LoadOptions,
    spin: { spin: boolean; reason: string } = { spin: false, reason: 'spin off' },
  ) {
    this.runtime = { weights: opts.weights ?? 'f32', spin: spin.spin, spinReason: spin.reason, threads: opts.threads ?? 2, coreGraphs: sessions.coreLimit };
    this.info = { ...ck.info, embedLayer: opts.embedLayer ?? Math.floor(ck.config.numLayers / 2) };
    this.config = ck.config;
    this.maxBatch = opts.maxBatch ?? 64;
    const c = ck.config;
    const make = () => new KvStaging(c.numLayers, c.numKvHeads, c.headDim);
    this.decodeStaging = new StagingPool(opts.stagingSlots ?? 2, make);
    this.prefillStaging = make();
  }

  createSeq(): SeqId {
    const id = this.nextId++;
    this.seqs.set(id, { len: 0, layers: new Array(this.config.numLayers).fill(null) });
    return id;
  }

  /** `count` copies of `src`'s first `length` positions (default all of them). */
  forkSeq(src: SeqId, count: number, length?: number): SeqId[] {
    const s = this.seqs.get(src);
    if (!s) throw new Error(`forkSeq: unknown sequence ${src}`);
    if (!Number.isInteger(count) || count < 0) throw new Error(`forkSeq: count must be a non-negative integer (got ${count})`);
    const len = length ?? s.len;
    if (!Number.isInteger(len) || len < 0 || len > s.len) throw new Error(`forkSeq: length must be an integer from 0 to ${s.len} (got ${length})`);
    return Array.from({ length: count }, () => {
      const id = this.nextId++;
      this.seqs.set(id, { len, layers: s.layers.map((kv) => (kv ? kv.clone(len) : null)) });
      return id;
    });
  }

  /**
   * Forgets `seq`'s positions from `length` on (speculative decoding drops the draft's rejected
   * tokens, and the positions a draft's skipped sublayers left behind).
   */
  truncateSeq(id: SeqId, length: number): void {
    const s = this.seqs.get(id);
    if (!s) throw new Error(`truncateSeq: unknown sequence ${id}`);
    if (!Number.isInteger(length) || length < 0 || length > s.len) throw new Error(`truncateSeq: length must be an integer from 0 to ${s.len} (got ${length})`);
    s.len = length;
    for (const kv of s.layers) if (kv && kv.len > length) kv.len = length;
    // Staged copies of the dropped positions would be taken as still valid.
    this.decodeStaging.release(id);
  }

  freeSeq(id: SeqId): void {
    for (const kv of this.seqs.get(id)?.layers ?? []) kv?.release();
    this.seqs.delete(id);
    this.decodeStaging.release(id);
  }

  seqLength(id: SeqId): number {
    const s = this.seqs.get(id);
    if (!s) throw new Error(`unknown sequence ${id}`);
    return s.len;
  }

  /** Number of live sequences (for tests and metrics). */
  liveSeqs(): number {
    return this.seqs.size;
  }

  private planOf(plan: SkipPlan) {
    let p = this.planCache.get(plan);
    if (!p) {
      const v = validatePlan(plan, this.info);
      if (this.opts.plain && (v.skipAttention.length || v.skipMlp.length || Object.keys(v.maskHeads).length)) {
        throw new Error('this runner was built without switches (plain graph); only the full plan is accepted');
      }
      p = { skipA: new Set(v.skipAttention), skipM: new Set(v.skipMlp), heads: new Map(Object.entries(v.maskHeads).map(([k, h]) => [Number(k), h])) };
      this.planCache.set(plan, p);
    }
    return p;
  }

  /** Runs one batched step; decode rows and prefill rows go in separate runs. */
  async step(rows: StepRow[], opts: StepOptions = {}): Promise<LocalStepOutput> {
    const t0 = performance.now();
    if (!rows.length) return { logits: [], logsumexp: [], embeddings: [], runMs: 0, prepMs: 0, afterMs: 0, graphs: [], buildMs: this.sessions.takeBuildMs() };
    if (rows.length > this.maxBatch) throw new Error(`step: batch of ${rows.length} rows exceeds maxBatch ${this.maxBatch}`);
    const seen = new Set<SeqId>();
    rows.forEach((r, i) => {
      if (!this.seqs.has(r.seq)) throw new Error(`rows[${i}].seq: unknown sequence ${r.seq}`);
      if (seen.has(r.seq)) throw new Error(`rows[${i}].seq: sequence ${r.seq} appears twice in one step`);
      seen.add(r.seq);
      if (!r.tokens.length) throw new Error(`rows[${i}].tokens: must not be empty`);
      r.tokens.forEach((t, j) => {
        if (!Number.isInteger(t) || t < 0 || t >= this.info.vocabSize) throw new Error(`rows[${i}].tokens[${j}]=${t} out of range: vocab size is ${this.info.vocabSize}`);
      });
      const len = this.seqs.get(r.seq)!.len + r.tokens.length;
      if (len > this.info.maxPositions) throw new Error(`rows[${i}]: sequence would reach ${len} tokens, above the model's ${this.info.maxPositions} positions`);
      const plan = this.planOf(r.plan);
      const seq = this.seqs.get(r.seq)!;
      if (seq.len === 0) return;
      for (let l = 0; l < this.config.numLayers; l++) {
        if (plan.skipA.has(l)) continue;
        const kv = seq.layers[l];
        if (!kv || kv.len !== seq.len) {
          throw new Error(`rows[${i}]: sequence ${r.seq} has no KV for layer ${l} (its earlier steps skipped attention there); a sequence must keep one plan's attention skips`);
        }
      }
    });
    const out: LocalStepOutput = { logits: new Array(rows.length), logsumexp: new Array(rows.length), embeddings: new Array(rows.length).fill(null), runMs: 0, prepMs: performance.now() - t0, afterMs: 0, graphs: [], buildMs: this.sessions.takeBuildMs() };
    const decode = rows.map((_, i) => i).filter((i) => rows[i].tokens.length === 1);
    const prefill = rows.map((_, i) => i).filter((i) => rows[i].tokens.length > 1);
    const switched = opts.graph === 'switched';
    if (decode.length) await this.runGroup(rows, decode, this.decodeStaging.get(decode.map((i) => rows[i].seq)), out, switched);
    if (prefill.length) {
      await this.runGroup(rows, prefill, this.prefillStaging, out, switched);
      this.prefillStaging.reset();
    }
    return out;
  }

  private tensorOf(data: Float32Array, dims: number[]): ort.Tensor {
    let t = this.tensors.get(data);
    if (!t) {
      t = new ort.Tensor('float32', data, dims);
      this.tensors.set(data, t);
    }
    return t;
  }

  private constant(key: string, make: () => ort.Tensor): ort.Tensor {
    let t = this.constants.get(key);
    if (!t) {
      t = make();
      this.constants.set(key, t);
    }
    return t;
  }

  private async runGroup(all: StepRow[], idx: number[], staging: KvStaging, out: LocalStepOutput, switched: boolean): Promise<void> {
    const tPrep = performance.now();
    const c = this.config;
    const L = c.numLayers;
    const { numKvHeads: kvH, headDim: D, numHeads: H } = c;
    const G = H / kvH;
    const rows = idx.map((i) => all[i]);
    const plans = rows.map((r) => this.planOf(r.plan));
    const seqs = rows.map((r) => this.seqs.get(r.seq)!);
    const B = rows.length;
    const T = Math.max(...rows.map((r) => r.tokens.length));
    const attnOn = new Array<boolean>(L);
    const mlpOn = new Array<boolean>(L);
    for (let l = 0; l < L; l++) {
      attnOn[l] = plans.some((p) => !p.skipA.has(l));
      mlpOn[l] = plans.some((p) => !p.skipM.has(l));
    }
    // Every sublayer runs for some row: the masked graph computes the same without the switches;
    // a core the whole batch skips: its core graph once built, else the switched graph.
    const { session, use } = this.sessions.pick(attnOn, mlpOn, switched);
    out.graphs.push(use);
    const maxLen = Math.max(...seqs.map((s) => s.len));
    staging.prepare(rows.map((r) => r.seq), seqs, attnOn, maxLen);
    const P = staging.P;

    const { feeds, gatherStart } = sharedInputs(rows.map((r, b) => ({ tokens: r.tokens, past: seqs[b].len, logits: r.logits })), T, P, G);
    const pastDims = [B, kvH, 1, P, D];
    // A layer no row computes never reads its past: an empty tensor stands in.
    const empty = this.constant(`empty:${B}`, () => new ort.Tensor('float32', new Float32Array(0), [B, kvH, 1, 0, D]));
    const fetches = ['logits', 'logsumexp'];
    const makeKeep = () => new ort.Tensor('float32', new Float32Array(B * T).fill(1), [B * T, 1]);
    const onesKeep = T === 1 ? this.constant(`keep:${B}`, makeKeep) : makeKeep();
    const onesHeads = this.constant(`heads:${B}`, () => new ort.Tensor('float32', new Float32Array(B * H).fill(1), [B, kvH, G, 1, 1]));
    for (let l = 0; l < L; l++) {
      feeds[`past_key.${l}`] = attnOn[l] ? this.tensorOf(staging.k[l], pastDims) : empty;
      feeds[`past_value.${l}`] = attnOn[l] ? this.tensorOf(staging.v[l], pastDims) : empty;
      if (attnOn[l]) fetches.push(`new_key.${l}`, `new_value.${l}`);
      if (this.opts.plain) continue;
      if (use === 'switched') {
        feeds[`attn_on.${l}`] = attnOn[l] ? TRUE : FALSE;
        feeds[`mlp_on.${l}`] = mlpOn[l] ? TRUE : FALSE;
      }
      // Shared all-ones tensors when no row of the group skips or masks here (the common case).
      const keep = (skip: (b: number) => boolean) => {
        if (!plans.some((_, b) => skip(b))) return onesKeep;
        const k = new Float32Array(B * T);
        for (let b = 0; b < B; b++) if (!skip(b)) k.fill(1, b * T, (b + 1) * T);
        return new ort.Tensor('float32', k, [B * T, 1]);
      };
      feeds[`mlp_keep.${l}`] = keep((b) => plans[b].skipM.has(l));
      // Head masks carry the attention keep mask too: a row skipping attention here masks every head.
      if (plans.some((p) => p.heads.has(l) || p.skipA.has(l))) {
        const hm = new Float32Array(B * H).fill(1);
        for (let b = 0; b < B; b++) {
          if (plans[b].skipA.has(l)) hm.fill(0, b * H, (b + 1) * H);
          else for (const h of plans[b].heads.get(l) ?? []) hm[b * H + h] = 0;
        }
        feeds[`head_mask.${l}`] = new ort.Tensor('float32', hm, [B, kvH, G, 1, 1]);
      } else feeds[`head_mask.${l}`] = onesHeads;
    }
    const wantEmbed = rows.some((r) => r.embed);
    if (wantEmbed) fetches.push('embed');

    const t0 = performance.now();
    out.prepMs += t0 - tPrep;
    const res = await session.run(feeds, fetches);
    const t1 = performance.now();
    out.runMs += t1 - t0;

    for (let l = 0; l < L; l++) {
      if (!attnOn[l]) continue;
      const nk = res[`new_key.${l}`].data as Float32Array;
      const nv = res[`new_value.${l}`].data as Float32Array;
      for (let b = 0; b < B; b++) {
        if (plans[b].skipA.has(l)) continue;
        const n = rows[b].tokens.length;
        const s = seqs[b];
        const kv = (s.layers[l] ??= new LayerKv(kvH, D, kvCapacity(s.len + n), this.kvBuffers));
        kv.append(nk, nv, b, T, n);
        staging.mirror(b, l, kv, n);
      }
    }
    const logits = res.logits.data as Float32Array;
    const lse = res.logsumexp.data as Float32Array;
    const V = this.info.vocabSize;
    const emb = wantEmbed ? (res.embed.data as Float32Array) : null;
    for (let b = 0; b < B; b++) {
      const n = rows[b].tokens.length;
      seqs[b].len += n;
      const count = rows[b].logits === 'all' ? n : 1;
      out.logits[idx[b]] = logits.subarray(gatherStart[b] * V, (gatherStart[b] + count) * V);
      out.logsumexp[idx[b]] = lse.subarray(gatherStart[b], gatherStart[b] + count);
      if (rows[b].embed && emb) out.embeddings[idx[b]] = emb.slice(b * c.hiddenSize, (b + 1) * c.hiddenSize);
    }
    out.afterMs += performance.now() - t1;
  }

  /** Builds the graphs of skip cores requests are expected to share (graph-sessions.ts prepare); returns how many are ready. */
  async prepareCores(cores: readonly SkipCore[]): Promise<number> {
    let ready = 0;
    for (const c of cores) if (await this.sessions.prepare(c)) ready++;
    return ready;
  }

  /** Releases the sessions. */
  async close(): Promise<void> {
    this.seqs.clear();
    await this.sessions.close();
  }
}
