/**
 * Latency profile: the measured decode-step latency of every attention and MLP sublayer on this
 * machine, at batch 1 and 8 and a few context lengths, taken through the real runner. Each
 * sublayer is timed alone (every other sublayer skipped) against the step with everything
 * skipped; those shares then split the full plan's step time through the switched graph minus the
 * empty step's, so the sublayers add up to what skipping all of them really saves. A skip core's
 * step runs the switched graph, a full-model step the dense path (no switches), so a core's
 * speedup is the dense step over the switched one less the core's sublayers. Short steps are timed because on a shared
 * machine a long step collects more interference than the sublayer costs. Cached per model shape
 * and machine; the engine's speedup figures and the latency-budget policy
 * read it.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import type { ModelInfo } from '../model/model-info.ts';
import type { ModelRunner, StepOptions } from '../model/runner-types.ts';
import { FULL_PLAN, type SkipPlan } from './plan.ts';

/** Measured step times of one batch shape, in milliseconds. */
export interface ProfileShape {
  batch: number;
  context: number;
  /** The full plan's step time: the dense path (what a full-model request costs). */
  denseMs: number;
  /** The full plan's step time through the switched graph (the same as denseMs without the dense path). */
  switchedMs: number;
  /** Step time with every sublayer skipped (embedding, lm_head and fixed costs). */
  baseMs: number;
  attentionMs: number[];
  mlpMs: number[];
}

/** Profiles of another version (version 1 had no switchedMs) are re-measured. */
export const PROFILE_VERSION = 2;

export interface LatencyProfile {
  version: typeof PROFILE_VERSION;
  modelKey: string;
  machineKey: string;
  machine: string;
  measuredAt: string;
  numLayers: number;
  /** Seconds the measurement took. */
  measureSeconds: number;
  shapes: ProfileShape[];
  /**
   * The default target's core timed against the dense step per batch-size bucket, and the scale of
   * the sublayer times that chose it (src/router/core-check.ts); absent until checked.
   */
  coreChecks?: CoreCheck[];
}

/** One core check: the core a scaled search chose at a batch size, and what it measured. */
export interface CoreCheck {
  batch: number;
  context: number;
  target: number;
  /** Factor on every sublayer time of this batch size's table (1: the profile as measured). */
  scale: number;
  /** The accepted core, e.g. ["attention.2", "attention.10"]. */
  core: string[];
  /** Speedup the scaled table predicts for it, and the measured dense / core step ratio. */
  predicted: number;
  measured: number;
  measuredAt: string;
}

export interface MeasureOptions {
  batches?: number[];
  contexts?: number[];
  /** Timed decode steps per configuration (after 2 warm-up steps). */
  steps?: number;
  /** Interleaved passes over all configurations; the fastest is kept. */
  repeats?: number;
  /** Intra-op threads of the runner (part of the machine key). */
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Key of a model's shape: latency depends on the shape, not on the weight values. */
export function modelKey(info: ModelInfo): string {
  const shape = [info.architecture, info.numLayers, info.numHeads, info.numKvHeads, info.headDim, info.hiddenSize, info.intermediateSize, info.vocabSize];
  return createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 16);
}

/** The runner's intra-op threads when none are given (its own default). */
export const DEFAULT_THREADS = 2;

/** Human description and key of this machine (CPU model, cores, memory, threads, onnxruntime). */
export function machineKey(threads = DEFAULT_THREADS): { key: string; description: string } {
  const cpu = cpus();
  const description = `${cpu[0]?.model ?? 'cpu'} x${cpu.length}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${process.platform}-${process.arch}, threads=${threads}, onnxruntime-node ${ortVersion()}`;
  return { key: createHash('sha256').update(description).digest('hex').slice(0, 16), description };
}

function ortVersion(): string {
  try {
    return (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * The q-quantile of step times. On a shared machine a step is only ever slowed down by other
 * work, never sped up, so a low quantile estimates the step's own cost better than the median.
 */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** Low-quantile decode-step time of `plan` at one batch shape (fresh sequences, prefilled under the plan). */
async function timeDecode(runner: ModelRunner, plan: SkipPlan, batch: number, context: number, steps: number, seed: number, opts?: StepOptions): Promise<number> {
  const vocab = runner.info.vocabSize;
  const prompt = Array.from({ length: context }, (_, i) => (seed * 131 + i * 7919) % vocab);
  const root = await runner.createSeq();
  const seqs: number[] = [];
  try {
    await runner.step([{ seq: root, tokens: prompt, plan, logits: 'last' }], opts);
    seqs.push(...(await runner.forkSeq(root, batch)));
    const times: number[] = [];
    for (let s = 0; s < steps + 2; s++) {
      const out = await runner.step(seqs.map((seq, i) => ({ seq, tokens: [(s * 31 + i * 17 + 5) % vocab], plan, logits: 'last' as const })), opts);
      if (s >= 2) times.push(out.runMs);
    }
    return quantile(times, 0.25);
  } finally {
    await runner.freeSeq(root);
    for (const s of seqs) await runner.freeSeq(s);
  }
}

/** The batch sizes a profile is measured at: 1 and 8, or the runner's largest batch when it takes fewer. */
export function profileBatches(maxBatch?: number): number[] {
  return [...new Set([1, Math.max(1, Math.min(8, maxBatch ?? 8))])];
}

/** Measures the profile through the runner (a few seconds for a small model). */
export async function measureLatencyProfile(runner: ModelRunner, opts: MeasureOptions = {}): Promise<LatencyProfile> {
  const info = runner.info;
  const L = info.numLayers;
  const steps = opts.steps ?? 12;
  const repeats = opts.repeats ?? 4;
  const batches = opts.batches ?? profileBatches();
  const room = info.maxPositions - steps - 3;
  const contexts = [...new Set((opts.contexts ?? [32, 128, 256]).map((c) => Math.min(c, room)).filter((c) => c >= 1))];
  const all = Array.from({ length: L }, (_, i) => i);
  // 0: full plan (dense path), 1: everything skipped, 2 + 2l / 3 + 2l: attention / MLP of layer l
  // alone, last: the full plan through the switched graph. All but the first are timed through the
  // switched graph: the runner would otherwise give each of these cores a graph of its own after a
  // few steps (core graphs), and coreTable derives what a core graph costs from these shares.
  const plans: SkipPlan[] = [FULL_PLAN, { skipAttention: all, skipMlp: all, maskHeads: {} }];
  const allBut = (l: number): number[] => all.filter((x) => x !== l);
  for (let l = 0; l < L; l++) plans.push({ skipAttention: allBut(l), skipMlp: all, maskHeads: {} }, { skipAttention: all, skipMlp: allBut(l), maskHeads: {} });
  plans.push(FULL_PLAN);
  const switchedAt = plans.length - 1;
  const started = Date.now();
  const total = repeats * batches.length * contexts.length * plans.length;
  let done = 0;
  const samples = new Map<string, number[]>();
  for (let r = 0; r < repeats; r++) {
    for (const batch of batches) {
      for (const context of contexts) {
        for (let k = 0; k < plans.length; k++) {
          const i = (k + r) % plans.length; // rotate the order so drift does not favour one plan
          const ms = await timeDecode(runner, plans[i]!, batch, context, steps, r * 1000 + i, i === 0 ? undefined : { graph: 'switched' });
          const key = `${batch}/${context}/${i}`;
          samples.set(key, [...(samples.get(key) ?? []), ms]);
          opts.onProgress?.(++done, total);
        }
      }
    }
  }
  const shapes: ProfileShape[] = [];
  for (const batch of batches) {
    for (const context of contexts) {
      // Fastest of the repeats: interference only ever adds time.
      const t = (i: number): number => Math.min(...samples.get(`${batch}/${context}/${i}`)!);
      const dense = t(0);
      const switched = t(switchedAt);
      // The empty step is the reference of every alone-time: take the fastest evidence of it.
      let base = Math.min(t(1), dense, switched);
      for (let i = 2; i < switchedAt; i++) base = Math.min(base, t(i));
      // Alone-times above the empty step, floored so no sublayer is free.
      const floor = Math.max(switched - base, 1e-6) * 0.002;
      const rawAtt = Array.from({ length: L }, (_, l) => Math.max(t(2 + 2 * l) - base, floor));
      const rawMlp = Array.from({ length: L }, (_, l) => Math.max(t(3 + 2 * l) - base, floor));
      const rawSum = [...rawAtt, ...rawMlp].reduce((a, b) => a + b, 0);
      const scale = Math.max(switched - base, rawSum * 0.25) / rawSum;
      shapes.push({ batch, context, denseMs: dense, switchedMs: switched, baseMs: base, attentionMs: rawAtt.map((x) => x * scale), mlpMs: rawMlp.map((x) => x * scale) });
    }
  }
  const m = machineKey(opts.threads);
  return {
    version: PROFILE_VERSION,
    modelKey: modelKey(info),
    machineKey: m.key,
    machine: m.description,
    measuredAt: new Date().toISOString(),
    numLayers: L,
    measureSeconds: (Date.now() - started) / 1000,
    shapes,
  };
}

/** The shape closest to (batch, context): nearest batch first, then nearest context. */
export function profileShape(profile: LatencyProfile, batch: number, context = 128): ProfileShape {
  if (profile.shapes.length === 0) throw new Error('latency profile has no measured shapes');
  const cost = (s: ProfileShape): number => Math.abs(Math.log(s.batch / batch)) * 1000 + Math.abs(Math.log(Math.max(s.context, 1) / Math.max(context, 1)));
  return profile.shapes.reduce((best, s) => (cost(s) < cost(best) ? s : best));
}

/**
 * A shape's figures as a core's step sees them: with core graphs (the runtime's default) a core's
 * steady steps run a graph without the core and without switches, so the reference is the dense
 * step and the sublayers split the dense step's time; without them, the switched graph's. `scale`
 * multiplies every sublayer's time (a core check's correction for sublayers that save less together).
 */
export function coreTable(s: ProfileShape, coreGraphs: boolean, scale = 1): { denseMs: number; switchedMs: number; attentionMs: number[]; mlpMs: number[] } {
  const switched = s.switchedMs ?? s.denseMs;
  const k = (coreGraphs && switched - s.baseMs > 0 ? Math.max(0, s.denseMs - s.baseMs) / (switched - s.baseMs) : 1) * scale;
  return { denseMs: s.denseMs, switchedMs: coreGraphs ? s.denseMs : switched, attentionMs: s.attentionMs.map((x) => x * k), mlpMs: s.mlpMs.map((x) => x * k) };
}

/**
 * Speedup the profile predicts for a batch whose rows carry `plans`: only sublayers skipped by
 * every row (the skip core) save time, on a core graph (`coreGraphs`) or through the switched
 * graph; without a core the step takes the dense path (1); head masks save none.
 */
export function predictSpeedup(profile: LatencyProfile, plans: readonly SkipPlan[], context = 128, coreGraphs = false): number {
  if (plans.length === 0) return 1;
  const shape = profileShape(profile, plans.length, context);
  const s = coreTable(shape, coreGraphs);
  const common = (key: 'skipAttention' | 'skipMlp'): number[] => plans[0]![key].filter((l) => plans.every((p) => p[key].includes(l)));
  let saved = 0;
  for (const l of common('skipAttention')) saved += s.attentionMs[l] ?? 0;
  for (const l of common('skipMlp')) saved += s.mlpMs[l] ?? 0;
  if (saved === 0) return 1;
  const rest = Math.max(s.switchedMs - saved, shape.baseMs, 1e-9);
  return s.denseMs / rest;
}

/** The profile cache file in a directory (a model's router/ folder, or the configured cache dir). */
export function profileCachePath(dir: string): string {
  return join(dir, 'profiles.json');
}

interface ProfileFile {
  profiles: Record<string, LatencyProfile>;
}

/** Reads the cached profile for this model shape and machine, or null. */
export function readCachedProfile(path: string, info: ModelInfo, threads?: number): LatencyProfile | null {
  if (!existsSync(path)) return null;
  const file = JSON.parse(readFileSync(path, 'utf8')) as ProfileFile;
  const p = file.profiles?.[`${modelKey(info)}/${machineKey(threads).key}`];
  return p?.version === PROFILE_VERSION ? p : null;
}

/** Adds a profile to the cache file (other machines' profiles are kept). */
export function writeCachedProfile(path: string, profile: LatencyProfile): void {
  let file: ProfileFile = { profiles: {} };
  if (existsSync(path)) file = JSON.parse(readFileSync(path, 'utf8')) as ProfileFile;
  file.profiles = { ...(file.profiles ?? {}), [`${profile.modelKey}/${profile.machineKey}`]: profile };
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(file, null, 1) + '\n');
  renameSync(tmp, path);
}

/**
 * The profile of this model on this machine: from the first cache that has one for this model shape
 * and machine (`cacheDir`, then each of `readDirs`' router/ folders, which are only read), else
 * measured now and written to `cacheDir` (kept in memory only when it is null). A profile measured
 * on other hardware does not match the machine key, so it is re-measured, never refused.
 */
export async function loadOrMeasureProfile(
  runner: ModelRunner,
  opts: MeasureOptions & { cacheDir: string | null; readDirs?: string[]; remeasure?: boolean },
): Promise<{ profile: LatencyProfile; path: string | null; cached: boolean }> {
  const write = opts.cacheDir ? profileCachePath(opts.cacheDir) : null;
  if (!opts.remeasure) {
    const candidates = [...(write ? [write] : []), ...(opts.readDirs ?? []).map((d) => profileCachePath(join(d, 'router')))];
    for (const path of candidates) {
      const hit = readCachedProfile(path, runner.info, opts.threads);
      if (hit) return { profile: hit, path, cached: true };
    }
  }
  const profile = await measureLatencyProfile(runner, opts);
  if (write) writeCachedProfile(write, profile);
  return { profile, path: write, cached: false };
}
