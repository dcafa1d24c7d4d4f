/**
 * The one place a request is checked: a RequestSpec (from HTTP, gRPC, the CLI or an evaluation
 * tool) becomes a GenerationRequest. Renders the chat template, tokenizes, checks the context
 * budget, n, sampling ranges, stop strings and the answer pattern, and resolves the policy
 * (named, else the caller's A/B arm, else the server default). Errors name the domain field;
 * the transports map field names to their wire names.
 */
import { guidePattern } from './guided-request.ts';
import { toolGuide } from './tool-calls.ts';
import { InvalidRequestError, NotFoundError, PolicyUnavailableError } from '../errors.ts';
import type { ModelInfo } from '../model/model-info.ts';
import type { PolicyOptions } from '../plans/policies/policy.ts';
import type { PolicyRegistry } from '../plans/policies/registry.ts';
import { TEMPLATE_VARIABLES, type ChatTemplate } from '../text/chat-template.ts';
import { MAX_REPETITION_PENALTY } from '../sampling/sampler.ts';
import { compileAnswerPattern } from './answers.ts';
import type { GenerationRequest, RequestSpec, SamplingParams, TextTokenizer } from './types.ts';
import { SELECT_MODES, type SelectMode } from './vote.ts';

/** Limits on what one request may ask for (maxCoreFraction: the largest share of the sublayer FLOPs a sub-network may skip). */
export const REQUEST_LIMITS = { maxLogitBias: 1024, maxStops: 16, maxStopChars: 256, maxAnswerPatternChars: 500, maxTopLogprobs: 20, maxTemperature: 2, maxMetadataPairs: 16, maxMetadataKeyChars: 64, maxMetadataValueChars: 512, maxReferenceAnswerChars: 1000, maxCharsPerToken: 32, maxPrompts: 64, maxCoreFraction: 0.6, maxStopTokenIds: 64, maxBadWords: 64, maxBadWordChars: 256 };

/** The policy a request gets when it names none. */
export interface PolicyAssignment {
  policy: string;
  /** Set when the policy comes from an A/B arm. */
  arm?: string;
  /** The arm's fixed options (the request's own skip options override them). */
  options: PolicyOptions;
}

/** What preparing a request needs from the server. */
export interface RequestServices {
  info: ModelInfo;
  tokenizer: TextTokenizer;
  chatTemplate: ChatTemplate | null;
  policies: PolicyRegistry;
  limits: { maxBatch: number; defaultMaxTokens: number };
  /** Picks the policy of a request without one; `key` is the caller's sticky A/B key. */
  assignPolicy(key: string | undefined): PolicyAssignment;
}

function int(v: number | undefined, field: string, lo: number, hi: number, what = `an integer from ${lo} to ${hi}`): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < lo || v > hi) throw new InvalidRequestError(`${field} must be ${what}; got ${v}`, field);
  return v;
}

/** Checks the caller's tags: OpenAI's limits (16 pairs, keys up to 64 characters, values up to 512). */
function checkMetadata(m: Record<string, string> | undefined): Record<string, string> | undefined {
  if (m === undefined) return undefined;
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new InvalidRequestError('metadata must be an object of string values', 'metadata');
  const entries = Object.entries(m);
  const { maxMetadataPairs: pairs, maxMetadataKeyChars: keyChars, maxMetadataValueChars: valueChars } = REQUEST_LIMITS;
  if (entries.length > pairs) throw new InvalidRequestError(`metadata has ${entries.length} keys; at most ${pairs}`, 'metadata');
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > keyChars) throw new InvalidRequestError(`metadata keys must have 1 to ${keyChars} characters; got ${k.length}`, 'metadata');
    if (typeof v !== 'string') throw new InvalidRequestError(`metadata.${k} must be a string`, `metadata.${k}`);
    if (v.length > valueChars) throw new InvalidRequestError(`metadata.${k} must have at most ${valueChars} characters; got ${v.length}`, `metadata.${k}`);
  }
  return entries.length ? { ...m } : undefined;
}

/** OpenAI's logit_bias as [token, bias] pairs in token order; errors name `logitBias.<id>`. */
function checkLogitBias(m: Record<string, number> | undefined, vocabSize: number): [number, number][] {
  if (m === undefined) return [];
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new InvalidRequestError('logitBias must be an object of token ids to biases', 'logitBias');
  const entries = Object.entries(m);
  if (entries.length > REQUEST_LIMITS.maxLogitBias) throw new InvalidRequestError(`logitBias has ${entries.length} tokens; at most ${REQUEST_LIMITS.maxLogitBias}`, 'logitBias');
  const out: [number, number][] = [];
  for (const [k, b] of entries) {
    const t = /^(0|[1-9][0-9]{0,9})$/.test(k) ? Number(k) : NaN;
    if (!(t < vocabSize)) throw new InvalidRequestError(`logitBias key '${k.slice(0, 20)}' is not a token id (vocabulary size ${vocabSize})`, `logitBias.${k.slice(0, 20)}`);
    if (typeof b !== 'number' || !(b >= -100 && b <= 100)) throw new InvalidRequestError(`logitBias.${k} must be a number from -100 to 100; got ${b}`, `logitBias.${k}`);
    if (b !== 0) out.push([t, b]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/** Refuses a model id this server does not serve (404 naming `model`); absent or empty: the served one. */
export function checkServedModel(info: Pick<ModelInfo, 'id'>, model: string | undefined): void {
  if (model && model !== info.id) throw new NotFoundError(`model '${model}' is not served here; this server serves '${info.id}'`, 'model');
}

/** Refuses the first entry of `tokens` that is not a token id of the vocabulary, naming `field[i]`. */
/** vLLM's stop_token_ids, min_tokens (at most `maxTokens`) and include_stop_str_in_output, checked. */
function checkEndRules(spec: RequestSpec, vocabSize: number, maxTokens: number): Pick<GenerationRequest, 'stopTokenIds' | 'minTokens' | 'includeStopStr'> {
  const ids = spec.stopTokenIds ?? [];
  if (!Array.isArray(ids) || ids.length > REQUEST_LIMITS.maxStopTokenIds) throw new InvalidRequestError(`stopTokenIds must be a list of at most ${REQUEST_LIMITS.maxStopTokenIds} token ids`, 'stopTokenIds');
  checkTokenIds(ids, vocabSize, 'stopTokenIds');
  const minTokens = int(spec.minTokens, 'minTokens', 0, maxTokens, `an integer from 0 to maxTokens (${maxTokens})`) ?? 0;
  return { ...(ids.length ? { stopTokenIds: [...new Set(ids)] } : {}), ...(minTokens > 0 ? { minTokens } : {}), ...(spec.includeStopStrInOutput ? { includeStopStr: true } : {}) };
}

/** vLLM's allowed_token_ids and bad_words as the sampler takes them (sorted distinct ids; token sequences). */
function checkTokenRules(s: Pick<RequestServices, 'info' | 'tokenizer'>, spec: RequestSpec): Pick<SamplingParams, 'allowedTokenIds' | 'badWords'> {
  const out: Pick<SamplingParams, 'allowedTokenIds' | 'badWords'> = {};
  if (spec.allowedTokenIds !== undefined) {
    if (!Array.isArray(spec.allowedTokenIds) || spec.allowedTokenIds.length === 0) throw new InvalidRequestError('allowedTokenIds must be a non-empty list of token ids', 'allowedTokenIds');
    checkTokenIds(spec.allowedTokenIds, s.info.vocabSize, 'allowedTokenIds');
    out.allowedTokenIds = [...new Set(spec.allowedTokenIds)].sort((a, b) => a - b);
  }
  const words = spec.badWords ?? [];
  if (!Array.isArray(words) || words.length > REQUEST_LIMITS.maxBadWords) throw new InvalidRequestError(`badWords must be a list of at most ${REQUEST_LIMITS.maxBadWords} words`, 'badWords');
  const seqs = new Map<string, number[]>();
  words.forEach((w, i) => {
    const word = w.trimStart();
    if (word.length === 0 || w.length > REQUEST_LIMITS.maxBadWordChars) throw new InvalidRequestError(`badWords[${i}] must have 1 to ${REQUEST_LIMITS.maxBadWordChars} characters (not only spaces)`, `badWords[${i}]`);
    // As written, and after a space (a word in the middle of a text is another token sequence), as vLLM bans them.
    for (const text of [word, ' ' + word]) {
      const ids = s.tokenizer.encode(text, false);
      if (ids.length) seqs.set(ids.join(','), ids);
    }
  });
  if (seqs.size) out.badWords = [...seqs.values()];
  return out;
}

export function checkTokenIds(tokens: readonly number[], vocabSize: number, field: string): void {
  const bad = tokens.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= vocabSize);
  if (bad >= 0) throw new InvalidRequestError(`${field}[${bad}]=${tokens[bad]} is not a token id (vocabulary size ${vocabSize})`, `${field}[${bad}]`);
}

function num(v: number | undefined, field: string, ok: (x: number) => boolean, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isFinite(v) || !ok(v)) throw new InvalidRequestError(`${field} must be ${what}; got ${v}`, field);
  return v;
}

/**
 * The rendered chat cut just after the final message's content (vLLM's continue_final_message: the
 * template's end of turn after it is dropped, so generation continues that message's text).
 */
function openFinalMessage(text: string, messages: readonly { role: string; content: string }[]): string {
  const last = messages.at(-1)!;
  const i = messages.length - 1;
  if (last.role !== 'assistant') throw new InvalidRequestError(`continueFinalMessage continues an assistant message; messages[${i}] is '${last.role}'`, `messages[${i}].role`);
  for (const content of [last.content, last.content.trim()]) {
    const at = content ? text.lastIndexOf(content) : -1;
    if (at >= 0) return text.slice(0, at + content.length);
  }
  throw new InvalidRequestError(`continueFinalMessage needs the final message's text, as the chat template writes it, in the rendered prompt (empty, or rewritten by the template)`, `messages[${i}].content`);
}

/**
 * Renders and tokenizes a prompt exactly as a request's is (tools use it for embeddings and scoring;
 * /tokenize with its options: the defaults are a request's); errors name `messages` or `prompt`.
 */
export function renderPrompt(
  s: Pick<RequestServices, 'info' | 'tokenizer' | 'chatTemplate'>,
  p: RequestSpec['prompt'],
  o: { addSpecialTokens?: boolean } = {},
): { text: string; tokens: number[]; field: string } {
  // A prompt this long cannot fit the context whatever its tokens; refuse it before the tokenizer spends time on it.
  const chars = p.kind === 'chat' ? p.messages.reduce((n, m) => n + m.content.length, 0) : p.kind === 'text' ? p.text.length : 0;
  const budget = s.info.maxPositions * REQUEST_LIMITS.maxCharsPerToken;
  if (chars > budget) {
    throw new InvalidRequestError(`the prompt has ${chars} characters, more than any prompt that fits the model's context of ${s.info.maxPositions} tokens (${budget})`, p.kind === 'chat' ? 'messages' : 'prompt', 'context_length_exceeded');
  }
  if (p.kind === 'chat') {
    if (!s.chatTemplate) throw new InvalidRequestError(`model '${s.info.id}' has no chat_template in tokenizer_config.json; use a text prompt`, 'messages');
    let text: string;
    const cont = p.continueFinalMessage ?? false;
    if (cont && p.addGenerationPrompt) throw new InvalidRequestError('continueFinalMessage leaves the final message open; addGenerationPrompt would open another turn after it', 'addGenerationPrompt');
    const own = Object.keys(p.templateKwargs ?? {}).find((k) => TEMPLATE_VARIABLES.includes(k));
    if (own) throw new InvalidRequestError(`the server sets the template's '${own}' itself`, `templateKwargs.${own}`);
    try {
      text = s.chatTemplate.render(p.messages, p.addGenerationPrompt ?? !cont, p.tools, p.templateKwargs);
    } catch (err) {
      throw new InvalidRequestError(`the chat template rejected the messages: ${(err as Error).message}`, 'messages');
    }
    if (cont) text = openFinalMessage(text, p.messages);
    return { text, tokens: s.tokenizer.encode(text, o.addSpecialTokens ?? false), field: 'messages' };
  }
  if (p.kind === 'text') return { text: p.text, tokens: s.tokenizer.encode(p.text, o.addSpecialTokens ?? true), field: 'prompt' };
  checkTokenIds(p.tokens, s.info.vocabSize, 'prompt');
  return { text: s.tokenizer.decode(p.tokens), tokens: p.tokens, field: 'prompt' };
}

/** vLLM's truncate_prompt_tokens: the prompt's last `keep` tokens (and their text), when it has more. */
function truncatePrompt(s: Pick<RequestServices, 'tokenizer'>, p: { text: string; tokens: number[]; field: string }, keep: number | undefined): { text: string; tokens: number[]; field: string } {
  const k = int(keep, 'truncatePromptTokens', 1, 2 ** 31 - 1, 'an integer >= 1');
  if (k === undefined || p.tokens.length <= k) return p;
  const tokens = p.tokens.slice(-k);
  return { ...p, text: s.tokenizer.decode(tokens), tokens };
}

/** Checks a request once and resolves its defaults and policy; throws domain errors naming the field. */
export function prepareRequest(s: RequestServices, spec: RequestSpec): GenerationRequest {
  const { info, limits } = s;
  checkServedModel(info, spec.model);
  const n = int(spec.n, 'n', 1, limits.maxBatch, `an integer from 1 to ${limits.maxBatch} (the server's max batch)`) ?? 1;
  const bestOf = int(spec.bestOf, 'bestOf', n, limits.maxBatch, `an integer from n (${n}) to ${limits.maxBatch} (the server's max batch)`) ?? n;
  if (spec.stream && bestOf > n) throw new InvalidRequestError(`bestOf (${bestOf}) > n (${n}) cannot be streamed: the best candidates are known only when all are done; send it without stream`, 'bestOf');

  const prompt = truncatePrompt(s, renderPrompt(s, spec.prompt), spec.truncatePromptTokens);
  if (prompt.tokens.length === 0) throw new InvalidRequestError('the prompt is empty after tokenization', prompt.field);
  const room = info.maxPositions - prompt.tokens.length;
  if (room < 1) throw new InvalidRequestError(`the prompt has ${prompt.tokens.length} tokens; the model's context is ${info.maxPositions}`, prompt.field, 'context_length_exceeded');
  const minTokens = spec.echo ? 0 : 1; // echo may only score the prompt
  if (spec.maxTokens !== undefined && (!Number.isInteger(spec.maxTokens) || spec.maxTokens < minTokens)) throw new InvalidRequestError(`maxTokens must be an integer >= ${minTokens}${spec.echo ? '' : ' (0 only with echo)'}; got ${spec.maxTokens}`, 'maxTokens');
  if (spec.maxTokens !== undefined && spec.maxTokens > room) {
    throw new InvalidRequestError(`maxTokens=${spec.maxTokens} plus the prompt's ${prompt.tokens.length} tokens exceeds the model's context of ${info.maxPositions} (at most ${room})`, 'maxTokens', 'context_length_exceeded');
  }
  const temperature = num(spec.temperature, 'temperature', (x) => x >= 0 && x <= REQUEST_LIMITS.maxTemperature, `a number from 0 to ${REQUEST_LIMITS.maxTemperature}`) ?? 1;
  const topP = num(spec.topP, 'topP', (x) => x > 0 && x <= 1, 'a number in (0, 1]') ?? 1;
  const topK = int(spec.topK, 'topK', -1, Number.MAX_SAFE_INTEGER, 'an integer >= -1 (-1 or 0: off)') ?? 0;
  const minP = num(spec.minP, 'minP', (x) => x >= 0 && x <= 1, 'a number in [0, 1] (0: off)') ?? 0;
  const presencePenalty = num(spec.presencePenalty, 'presencePenalty', (x) => x >= -2 && x <= 2, 'a number in [-2, 2]') ?? 0;
  const frequencyPenalty = num(spec.frequencyPenalty, 'frequencyPenalty', (x) => x >= -2 && x <= 2, 'a number in [-2, 2]') ?? 0;
  const repetitionPenalty = num(spec.repetitionPenalty, 'repetitionPenalty', (x) => x > 0 && x <= MAX_REPETITION_PENALTY, `a number in (0, ${MAX_REPETITION_PENALTY}] (1: off)`) ?? 1;
  const logitBias = checkLogitBias(spec.logitBias, info.vocabSize);
  const seed = int(spec.seed, 'seed', 0, Number.MAX_SAFE_INTEGER, 'a non-negative integer');
  const priority = int(spec.priority, 'priority', -(2 ** 31), 2 ** 31 - 1, 'a 32-bit integer (lower is admitted first)') ?? 0;
  const stop = spec.stop ?? [];
  if (stop.length > REQUEST_LIMITS.maxStops) throw new InvalidRequestError(`at most ${REQUEST_LIMITS.maxStops} stop strings; got ${stop.length}`, 'stop');
  stop.forEach((x, i) => {
    if (x.length === 0 || x.length > REQUEST_LIMITS.maxStopChars) throw new InvalidRequestError(`stop[${i}] must have 1 to ${REQUEST_LIMITS.maxStopChars} characters; got ${x.length}`, `stop[${i}]`);
  });
  const maxTokens = spec.maxTokens ?? Math.min(limits.defaultMaxTokens, room);
  const endRules = checkEndRules(spec, info.vocabSize, maxTokens);
  const topLogprobs = int(spec.topLogprobs, 'topLogprobs', 0, REQUEST_LIMITS.maxTopLogprobs) ?? 0;
  if (spec.topLogprobs !== undefined && !spec.logprobs) throw new InvalidRequestError('topLogprobs needs logprobs', 'topLogprobs');

  const skip = spec.skip ?? {};
  if (skip.policy === '') throw new InvalidRequestError('policy must be a policy name, not empty (leave it out for the default)', 'policy');
  const assigned = skip.policy ? { policy: skip.policy, options: {} as PolicyOptions } : s.assignPolicy(spec.key);
  const policy = s.policies.get(assigned.policy);
  if (!policy) throw new InvalidRequestError(`unknown policy '${assigned.policy}'; known: ${s.policies.names().join(', ')}`, 'policy');
  const why = policy.unavailableReason();
  if (why) throw new PolicyUnavailableError(`policy '${policy.name}' is unavailable: ${why}`, 'policy');
  if ((skip.plan !== undefined || skip.plans !== undefined) && policy.name !== 'explicit') throw new InvalidRequestError(`a plan or plans need policy 'explicit' (got '${policy.name}')`, 'policy');
  const options: PolicyOptions = { ...assigned.options };
  if (skip.plan !== undefined) options.plan = skip.plan;
  if (skip.plans !== undefined) options.plans = skip.plans;
  if (skip.k !== undefined) options.k = int(skip.k, 'k', 0, Number.MAX_SAFE_INTEGER, 'a non-negative integer');
  if (skip.targetSpeedup !== undefined) options.targetSpeedup = num(skip.targetSpeedup, 'targetSpeedup', (x) => x >= 1, 'a number >= 1');
  if (skip.domain !== undefined) options.domain = skip.domain;
  if (skip.coreFraction !== undefined) {
    if (policy.name !== 'sub-networks') throw new InvalidRequestError(`coreFraction applies to policy 'sub-networks' (got '${policy.name}')`, 'coreFraction');
    options.coreFraction = num(skip.coreFraction, 'coreFraction', (x) => x > 0 && x <= REQUEST_LIMITS.maxCoreFraction, `a number in (0, ${REQUEST_LIMITS.maxCoreFraction}]`);
  }
  const select = skip.select ?? policy.defaultSelect ?? 'vote';
  if (!SELECT_MODES.includes(select)) throw new InvalidRequestError(`select must be one of ${SELECT_MODES.join(', ')}; got '${select}'`, 'select');
  let answerPattern: RegExp | undefined;
  if (skip.answerPattern !== undefined) {
    if (skip.answerPattern.length === 0 || skip.answerPattern.length > REQUEST_LIMITS.maxAnswerPatternChars) {
      throw new InvalidRequestError(`answerPattern must have 1 to ${REQUEST_LIMITS.maxAnswerPatternChars} characters`, 'answerPattern');
    }
    try {
      answerPattern = compileAnswerPattern(skip.answerPattern);
    } catch (err) {
      throw new InvalidRequestError(`not a valid regular expression: ${(err as Error).message}`, 'answerPattern');
    }
  }
  if (skip.referenceAnswer !== undefined && skip.referenceAnswer.length > REQUEST_LIMITS.maxReferenceAnswerChars)
    throw new InvalidRequestError(`referenceAnswer must have at most ${REQUEST_LIMITS.maxReferenceAnswerChars} characters`, 'referenceAnswer');
  const metadata = checkMetadata(spec.metadata);
  const toolPattern = toolGuide(spec);
  const asked = guidePattern(spec);
  if (toolPattern && asked) throw new InvalidRequestError('a tool choice that makes the model call a function guides its text already; drop response_format or the guided_* field', 'toolChoice');
  const guide = toolPattern ?? asked;
  if (guide && spec.ignoreEos) throw new InvalidRequestError('guided decoding (and a forced tool call) ends each candidate where its text is complete, which ignoreEos forbids', 'ignoreEos');
  if (guide && endRules.minTokens) throw new InvalidRequestError('guided decoding (and a forced tool call) ends each candidate where its text is complete, which minTokens may forbid', 'minTokens');
  const repetition = repetitionPenalty !== 1 ? { repetitionPenalty, repetitionPrompt: [...new Set(prompt.tokens)] } : {};
  const tokenRules = checkTokenRules(s, spec);
  if (endRules.minTokens && tokenRules.allowedTokenIds) {
    const stops = new Set([...(spec.ignoreEos ? [] : info.eosTokenIds), ...(endRules.stopTokenIds ?? [])]);
    if (tokenRules.allowedTokenIds.every((t) => stops.has(t))) throw new InvalidRequestError('every allowed token ends the text, which minTokens forbids at first', 'allowedTokenIds');
  }
  if (guide && tokenRules.allowedTokenIds) throw new InvalidRequestError('guided decoding (and a forced tool call) chooses the tokens that may follow; allowedTokenIds would fight it', 'allowedTokenIds');
  return {
    promptTokens: prompt.tokens,
    promptText: prompt.text,
    n: bestOf,
    returnN: n,
    maxTokens,
    sampling: { temperature, topP, topK: topK > 0 ? topK : 0, ...(minP > 0 ? { minP } : {}), ...repetition, ...tokenRules, ...(presencePenalty !== 0 ? { presencePenalty } : {}), ...(frequencyPenalty !== 0 ? { frequencyPenalty } : {}), ...(logitBias.length ? { logitBias } : {}), ...(guide ? { guide: { regex: guide } } : {}) },
    seed: seed ?? Math.floor(Math.random() * 2 ** 31),
    stop,
    ...endRules,
    ignoreEos: spec.ignoreEos ?? false,
    logprobs: spec.logprobs ?? false,
    topLogprobs,
    echo: spec.echo ?? false,
    promptLogprobs: spec.echo && spec.logprobs ? topLogprobs : null,
    policy,
    ...(priority !== 0 ? { priority } : {}),
    arm: skip.policy ? undefined : assigned.arm,
    policyOptions: options,
    select,
    answerPattern,
    referenceAnswer: skip.referenceAnswer,
    metadata,
    signal: spec.signal,
    deadline: spec.deadline,
    receivedAt: spec.receivedAt,
  };
}
