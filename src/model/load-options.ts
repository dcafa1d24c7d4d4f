/**
 * How a model is loaded (LoadOptions, the worker's workerData too) and how it then runs
 * (RuntimeInfo, reported by the runner for logs and benchmarks).
 */
import type ort from 'onnxruntime-node';
import type { WeightFormat } from './graph/linear.ts';
import type { SpinSetting } from './spin.ts';

export interface LoadOptions {
  modelDir: string;
  /** onnxruntime intra-op threads (default 2). */
  threads?: number;
  /** Largest batch accepted by one step (default 64). */
  maxBatch?: number;
  /** Build the baseline graph without switches or masks (benchmark only; plans must be full). */
  plain?: boolean;
  /**
   * Add a switch-free copy of the decoder (keep and head masks only) that a step takes when some row
   * computes every sublayer: full plans and head masks then pay no switch tax (default true).
   * onnxruntime pre-packs the projection weights once per copy, so resident memory grows by about
   * the f32 weights' size.
   */
  densePath?: boolean;
  /**
   * Core graphs kept (0: none; default: as many as fit min(2 GiB, RAM/8) of packed weights, at most
   * 16): a skip core the whole batch shares, run CORE_GRAPH_AFTER steps, gets a graph with its
   * sublayers left out (graph-sessions.ts), so its steps pay no switch tax. Each holds a packed copy
   * of the weights it reads. Needs the dense path.
   */
  coreGraphs?: number;
  /** Layer after which the router embedding is pooled (default numLayers/2). */
  embedLayer?: number;
  /** Projection weights: 'f32' (default) or 'int8' (weight-only, quantized block-wise at load). */
  weights?: WeightFormat;
  /**
   * Let onnxruntime's intra-op threads spin while waiting: 'on', 'off' or 'auto' (spin.ts; a boolean
   * means on/off). Default 'auto' (the server's --ort-spin), which spins only with a CPU to
   * spare beside the intra-op threads on an idle machine. Spinning saves the thread wake-ups of every
   * step on free cores but made decode 1.6-2.5x slower on this shared 2-core machine.
   */
  spin?: SpinSetting | boolean;
  /**
   * Let onnxruntime pre-pack weights for its GEMM kernels (default true). Pre-packed copies live on
   * the heap next to the originals; without pre-packing the weights stay memory-mapped from the
   * generated external-data file.
   */
  prepack?: boolean;
  /** Decode groups whose staged past KV is kept between steps (default 2). */
  stagingSlots?: number;
  /**
   * Directory for the generated graphs' weights file (default: a new one, graph-scratch.ts). The
   * thread that starts a model worker makes it and removes it when the worker is gone.
   */
  scratchDir?: string;
  /**
   * Milliseconds a call may go without any message from the worker before it counts as hung
   * (runner.ts; default 0 = never): the runner then fails as if the worker had died.
   */
  stallMs?: number;
  /** Extra onnxruntime session options merged over the defaults (profiling, benchmarks). */
  sessionOptions?: ort.InferenceSession.SessionOptions;
}

/** How a loaded model runs: weight format, intra-op threads and spinning (with the reason). */
export interface RuntimeInfo {
  weights: WeightFormat;
  threads: number;
  spin: boolean;
  spinReason: string;
  /** Core graphs kept at most (0: a skip core's steps run the switched graph). */
  coreGraphs: number;
}
