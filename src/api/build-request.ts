/**
 * Maps a validated wire request (HTTP or gRPC, already checked by request-schema) to the engine's
 * GenerationRequest: renders the chat template, tokenizes, checks the context budget, parses the
 * plans against the model's shape, compiles the answer pattern and resolves the policy (explicit,
 * else the caller's A/B arm, else the server default). Errors name the wire field.
 */
import { InvalidRequestError, NotFoundError } from '../errors.ts';
import { compileAnswerPattern } from '../engine/answers.ts';
import type { GenerationRequest } from '../engine/types.ts';
import { parsePlan, PlanError, type SkipPlan } from '../plans/plan.ts';
import type { PolicyOptions } from '../plans/policies/policy.ts';
import type { ChatMessage } from '../text/chat-template.ts';
import type { ApiContext } from './context.ts';
import type { SkipBody } from './request-schema.ts';

/** The wire fields both transports share, after validation. */
export interface WireCommon {
  model?: string;
  n: number;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  ignore_eos?: boolean;
  skip?: SkipBody;
}

export type WirePrompt = { kind: 'chat'; messages: { role: string; content: string | { type: 'text'; text: string }[] }[] } | { kind: 'text'; text: string } | { kind: 'tokens'; tokens: number[] };

export interface EdgeOptions {
  /** Sticky A/B key (x-skipserve-key). */
  key?: string;
  signal?: AbortSignal;
  deadline?: number;
  logprobs: boolean;
  topLogprobs: number;
}

/** Builds the engine request; throws InvalidRequestError / NotFoundError naming the field. */
export function buildRequest(ctx: ApiContext, body: WireCommon, prompt: WirePrompt, edge: EdgeOptions): GenerationRequest {
  const { info, config, tokenizer } = ctx;
  if (body.model && body.model !== info.id) throw new NotFoundError(`model '${body.model}' is not served here; this server serves '${info.id}'`, 'model');
  if (body.n > config.maxBatch) throw new InvalidRequestError(`n must be between 1 and ${config.maxBatch} (the server's --max-batch); got ${body.n}`, 'n');

  let promptText: string;
  let promptTokens: number[];
  if (prompt.kind === 'chat') {
    if (!ctx.chatTemplate) throw new InvalidRequestError(`model '${info.id}' has no chat_template in tokenizer_config.json; use /v1/completions`, 'messages');
    const messages: ChatMessage[] = prompt.messages.map((m) => ({ role: m.role, content: typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join('') }));
    try {
      promptText = ctx.chatTemplate.render(messages, true);
    } catch (err) {
      throw new InvalidRequestError(`the chat template rejected the messages: ${(err as Error).message}`, 'messages');
    }
    promptTokens = tokenizer.encode(promptText, false);
  } else if (prompt.kind === 'text') {
    promptText = prompt.text;
    promptTokens = tokenizer.encode(promptText, true);
  } else {
    const bad = prompt.tokens.findIndex((t) => t >= info.vocabSize);
    if (bad >= 0) throw new InvalidRequestError(`prompt[${bad}]=${prompt.tokens[bad]} is not a token id (vocabulary size ${info.vocabSize})`, `prompt[${bad}]`);
    promptTokens = prompt.tokens;
    promptText = tokenizer.decode(promptTokens);
  }
  if (promptTokens.length === 0) throw new InvalidRequestError('the prompt is empty after tokenization', prompt.kind === 'chat' ? 'messages' : 'prompt');
  const room = info.maxPositions - promptTokens.length;
  if (room < 1) throw new InvalidRequestError(`the prompt has ${promptTokens.length} tokens; the model's context is ${info.maxPositions}`, prompt.kind === 'chat' ? 'messages' : 'prompt', 'context_length_exceeded');
  const asked = body.max_completion_tokens ?? body.max_tokens;
  const maxParam = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  if (asked != null && asked > room) {
    throw new InvalidRequestError(`${maxParam}=${asked} plus the prompt's ${promptTokens.length} tokens exceeds the model's context of ${info.maxPositions} (at most ${room})`, maxParam, 'context_length_exceeded');
  }
  const maxTokens = asked ?? Math.min(config.defaultMaxTokens, room);

  const skip = body.skip;
  const assigned = skip?.policy ? { policy: skip.policy, options: {} as PolicyOptions } : ctx.assignPolicy(edge.key);
  const policy = assigned.policy;
  if (!ctx.policies.get(policy)) throw new InvalidRequestError(`unknown policy '${policy}'; known: ${ctx.policies.names().join(', ')}`, 'skip.policy');
  const options: PolicyOptions = { ...assigned.options };
  if (skip?.plan !== undefined && skip.plans !== undefined) throw new InvalidRequestError('give skip.plan or skip.plans, not both', 'skip.plans');
  if (skip?.plan !== undefined) options.plan = parseWirePlan(ctx, skip.plan, 'skip.plan');
  if (skip?.plans !== undefined) {
    if (skip.plans.length !== body.n) throw new InvalidRequestError(`skip.plans has ${skip.plans.length} plans but n is ${body.n}; give exactly one plan per candidate`, 'skip.plans');
    options.plans = skip.plans.map((p, i) => parseWirePlan(ctx, p, `skip.plans[${i}]`));
  }
  if ((options.plan || options.plans) && policy !== 'explicit') throw new InvalidRequestError(`skip.plan/skip.plans need policy 'explicit' (got '${policy}')`, 'skip.policy');
  if (skip?.k !== undefined) options.k = skip.k;
  if (skip?.target_speedup !== undefined) options.targetSpeedup = skip.target_speedup;
  if (skip?.domain !== undefined) options.domain = skip.domain;
  let answerPattern: RegExp | undefined;
  if (skip?.answer_pattern) {
    try {
      answerPattern = compileAnswerPattern(skip.answer_pattern);
    } catch (err) {
      throw new InvalidRequestError(`not a valid regular expression: ${(err as Error).message}`, 'skip.answer_pattern');
    }
  }
  const stop = body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
  return {
    promptTokens,
    promptText,
    n: body.n,
    maxTokens,
    sampling: { temperature: body.temperature ?? 1, topP: body.top_p ?? 1, topK: body.top_k != null && body.top_k > 0 ? body.top_k : 0 },
    seed: body.seed ?? Math.floor(Math.random() * 2 ** 31),
    stop,
    ignoreEos: body.ignore_eos ?? false,
    logprobs: edge.logprobs,
    topLogprobs: edge.topLogprobs,
    policy,
    arm: skip?.policy ? undefined : assigned.arm,
    policyOptions: options,
    select: skip?.select ?? 'vote',
    answerPattern,
    signal: edge.signal,
    deadline: edge.deadline,
  };
}

/** Parses one wire plan against the model's shape; the error names `param.<plan field>`. */
function parseWirePlan(ctx: ApiContext, wire: unknown, param: string): SkipPlan {
  try {
    return parsePlan(wire, ctx.info);
  } catch (err) {
    if (err instanceof PlanError) throw new InvalidRequestError(err.message, err.field === 'plan' ? param : `${param}.${err.field}`);
    throw err;
  }
}
