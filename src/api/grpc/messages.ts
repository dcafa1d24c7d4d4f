/**
 * TypeScript declarations of the skipserve.v1 messages as @grpc/proto-loader hands them over
 * (keepCase, longs as numbers, enums as strings, defaults filled in, oneofs named).
 */
import type { DiversityWire } from '../diversity-wire.ts';
export interface HeadListMsg {
  heads: number[];
}

export interface SkipPlanMsg {
  skip_layers: number[];
  skip_attention: number[];
  skip_mlp: number[];
  mask_heads: Record<string, HeadListMsg>;
}

export interface SkipOptionsMsg {
  policy: string;
  plan: SkipPlanMsg | null;
  plans: SkipPlanMsg[];
  k?: number;
  target_speedup?: number;
  core_fraction?: number;
  domain: string;
  select: string;
  answer_pattern: string;
  reference_answer: string;
}

export interface GenerateRequestMsg {
  model: string;
  prompt: string;
  messages: { role: string; content: string; tool_calls: ToolCallMsg[]; tool_call_id: string }[];
  n?: number;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  seed?: number;
  stop: string[];
  logprobs: boolean;
  top_logprobs?: number;
  skip: SkipOptionsMsg | null;
  key: string;
  ignore_eos: boolean;
  metadata: Record<string, string>;
  min_p?: number;
  logit_bias?: Record<string, number>;
  best_of?: number;
  echo: boolean;
  presence_penalty?: number;
  frequency_penalty?: number;
  guided_regex: string;
  guided_choice: string[];
  guided_json: string;
  guided_grammar: string;
  tools: { name: string; description: string; parameters: string }[];
  tool_choice: string;
  parallel_tool_calls?: boolean;
  chat_template_kwargs: string;
  use_beam_search: boolean;
  length_penalty?: number;
  skip_special_tokens?: boolean;
  reasoning_effort: string;
  repetition_penalty?: number;
  stop_token_ids: number[];
  min_tokens?: number;
  include_stop_str_in_output: boolean;
  priority?: number;
  truncate_prompt_tokens?: number;
  add_generation_prompt?: boolean;
  continue_final_message: boolean;
  allowed_token_ids: number[];
  bad_words: string[];
}

export interface TokenLogprobMsg {
  token: string;
  token_id: number;
  logprob: number;
  top_logprobs: { token: string; token_id: number; logprob: number }[];
}

export interface EchoedPromptMsg {
  text: string;
  token_ids: number[];
  tokens: { token_id: number; token: string; logprob?: number; top_logprobs: TokenLogprobMsg['top_logprobs'] }[];
}

export interface CandidateMsg {
  index: number;
  text: string;
  token_ids: number[];
  finish_reason: string;
  skip_plan: SkipPlanMsg;
  answer: string;
  has_answer: boolean;
  mean_logprob: number;
  selected: boolean;
  logprobs: TokenLogprobMsg[];
  content: string;
  has_content: boolean;
  tool_calls: ToolCallMsg[];
  reasoning: string;
}

export interface ToolCallMsg {
  id: string;
  name: string;
  arguments: string;
}

/** Same fields as the HTTP response's `skip.diversity`. */
export type DiversityMsg = DiversityWire;

export interface GenerateResponseMsg {
  id: string;
  model: string;
  created: number;
  candidates: CandidateMsg[];
  skip: { policy: string; arm: string; selected_index: number; speedup: number; skipped_compute_ratio: number; diversity: DiversityMsg; reference_answer: string; matched_reference: boolean };
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number; cached_prompt_tokens: number };
  prompt?: EchoedPromptMsg;
}

export interface CandidateDeltaMsg {
  index: number;
  text: string;
  token_ids: number[];
  finish_reason: string;
  logprobs: TokenLogprobMsg[];
}

export type GenerateStreamResponseMsg =
  | { delta: CandidateDeltaMsg; final?: undefined; prompt?: undefined }
  | { final: GenerateResponseMsg; delta?: undefined; prompt?: undefined }
  | { prompt: EchoedPromptMsg; delta?: undefined; final?: undefined };

export interface PolicyDescriptionMsg {
  name: string;
  description: string;
  available: boolean;
  unavailable_reason: string;
}

export interface ModelDescriptionMsg {
  id: string;
  architecture: string;
  num_layers: number;
  num_heads: number;
  num_kv_heads: number;
  head_dim: number;
  hidden_size: number;
  intermediate_size: number;
  vocab_size: number;
  max_positions: number;
  max_batch: number;
  model_version: string;
  selector_version: string;
  default_sampling_params: Record<string, number>;
}

export interface FeedbackRequestMsg {
  id: string;
  source: string;
  /** Which member of the `value` oneof is set (undefined when none). */
  value?: 'answer' | 'labels' | 'score';
  answer?: string;
  labels?: { values: boolean[] };
  score?: number;
}

export interface FeedbackResponseMsg {
  id: string;
  source: string;
  replaced: boolean;
}

export interface GetRequestRequestMsg {
  id: string;
}

export interface RecordedCandidateMsg {
  index: number;
  skip_plan: SkipPlanMsg;
  text: string;
  answer: string;
  has_answer: boolean;
  mean_logprob?: number;
  finish_reason: string;
  completion_tokens: number;
  selected: boolean;
}

export interface FeedbackEntryMsg {
  source: string;
  answer?: string;
  labels: boolean[];
  score?: number;
  created_ms: number;
  updated_ms: number;
}

export interface RequestRecordMsg {
  id: string;
  created_ms: number;
  prompt: string;
  prompt_tokens: number;
  policy: string;
  arm: string;
  model_version: string;
  selector_version: string;
  candidates: RecordedCandidateMsg[];
  selected_index: number;
  diversity: DiversityMsg | null;
  speedup?: number;
  timings: { queue_ms: number; time_to_first_token_ms?: number; total_ms: number };
  reference_answer: string;
  matched_reference?: boolean;
  metadata: Record<string, string>;
  feedback: FeedbackEntryMsg[];
}

export interface HealthCheckRequestMsg {
  service: string;
}

export interface HealthCheckResponseMsg {
  status: 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
}

export interface EmbedRequestMsg {
  model: string;
  input: string[];
  token_inputs: { ids: number[] }[];
}

export interface EmbedResponseMsg {
  model: string;
  data: { values: number[] }[];
  prompt_tokens: number;
}
