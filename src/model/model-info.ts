import type { SamplingDefaults } from './sampling-defaults.ts';

/** Shape and identity of a loaded model, as every layer above the runtime sees it. */
export interface ModelInfo {
  /** Model id reported by the API (directory basename unless configured). */
  id: string;
  /** Other names requests may give it by (vLLM's --served-model-name after the first). */
  aliases?: readonly string[];
  /** Checkpoint directory it was loaded from. */
  dir: string;
  /** e.g. LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM. */
  architecture: string;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  hiddenSize: number;
  intermediateSize: number;
  vocabSize: number;
  /** Longest sequence (prompt + completion) the runtime accepts. */
  maxPositions: number;
  /** Generation stops on any of these ids. */
  eosTokenIds: number[];
  bosTokenId?: number;
  /** Sampling defaults from generation_config.json (absent: none there). */
  samplingDefaults?: SamplingDefaults;
  /** Layers whose output the prompt embedding is mean-pooled from (the runtime's; default numLayers / 2). */
  embedLayer?: number;
}
