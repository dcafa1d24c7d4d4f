/**
 * The one place a request is checked: a RequestSpec (from HTTP, gRPC, the CLI or an evaluation
 * tool) becomes a GenerationRequest. Renders and tokenizes the prompt (render-prompt.ts), checks
 * the context budget, n, sampling ranges, stop and token rules (request-checks.ts), guides and the
 * answer pattern, and resolves the policy (named, else the caller's A/B arm, else the server
 * default). Errors name the domain field; the transports map field names to their wire names.
 */
import { checkGuides, guideCheckFields, patternOf, type CheckedGuides } from './guide-checks.ts';
import { GUIDE_FIELDS } from './guided-request.ts';
import { InvalidRequestError, PolicyUnavailableError } from '../errors.ts';
import type { PolicyOptions } from '../plans/policies/policy.ts';
import type { PolicyRegistry } from '../plans/policies/registry.ts';
import { MAX_REPETITION_PENALTY } from '../sampling/sampler.ts';
import { compileAnswerPattern } from './answers.ts';
import { checkBeamSearch, checkEndRules, checkLogitBias, checkMetadata, checkServedModel, checkTokenRules, int, num, REQUEST_LIMITS } from './request-checks.ts';
import { renderPrompt, truncatePrompt, type PromptServices } from './render-prompt.ts';
import type { GenerationRequest, RequestSpec } from './types.ts';
import type { SamplingDefaults } from '../model/sampling-defaults.ts';
import { SELECT_MODES, type SelectMode } from './vote.ts';

/** The policy a request gets when it names none. */
export interface PolicyAssignment {
  policy: string;
  /** Set when the policy comes from an A/B arm. */
  arm?: string;
  /** The arm's fixed options (the request's own skip options override them). */
  options: PolicyOptions;
}

/** What preparing a request needs from the server. */
export interface RequestServices extends PromptServices {
  policies: PolicyRegistry;
  /** `samplingDefaults`: what a request that leaves a sampling field out gets (the model's generation config; absent: OpenAI's defaults). */
  limits: { maxBatch: number; defaultMaxTokens: number; samplingDefaults?: SamplingDefaults };
  /** Picks the policy of a request without one; `key` is the caller's sticky A/B key. */
  assignPolicy(key: string | undefined): PolicyAssignment;
}

/** A request's guides checked on this thread (a direct call; the engine checks them in the guide checker's worker). */
function checkGuidesOf(spec: RequestSpec): CheckedGuides | null {
  const fields = guideCheckFields(spec);
  return fields ? checkGuides(fields) : null;
}

/**
 * Checks a request once and resolves its defaults and policy; throws domain errors naming the
 * field. `checked`: its guides, checked already (guide-checker.ts).
 */
export function prepareRequest(s: RequestServices, spec: RequestSpec, checked: CheckedGuides | null = checkGuidesOf(spec)): GenerationRequest {
  const { info, limits } = s;
  checkServedModel(info, spec.model);
  const n = int(spec.n, 'n', 1, limits.maxBatch, `an integer from 1 to ${limits.maxBatch} (the server's max batch)`) ?? 1;
  const bestOf = int(spec.bestOf, 'bestOf', n, limits.maxBatch, `an integer from n (${n}) to ${limits.maxBatch} (the server's max batch)`) ?? n;
  if (spec.stream && bestOf > n && !spec.useBeamSearch) throw new InvalidRequestError(`bestOf (${bestOf}) > n (${n}) cannot be streamed: the best candidates are known only when all are done; send it without stream`, 'bestOf');

  const prompt = truncatePrompt(s, renderPrompt(s, spec.prompt), spec.truncatePromptTokens);
  if (prompt.tokens.length === 0) throw new InvalidRequestError('the prompt is empty after tokenization', prompt.field);
  const room = info.maxPositions - prompt.tokens.length;
  if (room < 1) throw new InvalidRequestError(`the prompt has ${prompt.tokens.length} tokens; the model's context is ${info.maxPositions}`, prompt.field, 'context_length_exceeded');
  const minTokens = spec.echo ? 0 : 1; // echo may only score the prompt
  if (spec.maxTokens !== undefined && (!Number.isInteger(spec.maxTokens) || spec.maxTokens < minTokens)) throw new InvalidRequestError(`maxTokens must be an integer >= ${minTokens}${spec.echo ? '' : ' (0 only with echo)'}; got ${spec.maxTokens}`, 'maxTokens');
  if (spec.maxTokens !== undefined && spec.maxTokens > room) {
    throw new InvalidRequestError(`maxTokens=${spec.maxTokens} plus the prompt's ${prompt.tokens.length} tokens exceeds the model's context of ${info.maxPositions} (at most ${room})`, 'maxTokens', 'context_length_exceeded');
  }
  // The model's generation config fills what the request leaves out (beam search ranks by the model's own log-probabilities: none).
  const d = spec.useBeamSearch ? {} : (limits.samplingDefaults ?? {});
  const temperature = num(spec.temperature, 'temperature', (x) => x >= 0 && x <= REQUEST_LIMITS.maxTemperature, `a number from 0 to ${REQUEST_LIMITS.maxTemperature}`) ?? d.temperature ?? 1;
  const topP = num(spec.topP, 'topP', (x) => x > 0 && x <= 1, 'a number in (0, 1]') ?? d.topP ?? 1;
  const topK = int(spec.topK, 'topK', -1, Number.MAX_SAFE_INTEGER, 'an integer >= -1 (-1 or 0: off)') ?? d.topK ?? 0;
  const minP = num(spec.minP, 'minP', (x) => x >= 0 && x <= 1, 'a number in [0, 1] (0: off)') ?? d.minP ?? 0;
  const presencePenalty = num(spec.presencePenalty, 'presencePenalty', (x) => x >= -2 && x <= 2, 'a number in [-2, 2]') ?? 0;
  const frequencyPenalty = num(spec.frequencyPenalty, 'frequencyPenalty', (x) => x >= -2 && x <= 2, 'a number in [-2, 2]') ?? 0;
  const repetitionPenalty = num(spec.repetitionPenalty, 'repetitionPenalty', (x) => x > 0 && x <= MAX_REPETITION_PENALTY, `a number in (0, ${MAX_REPETITION_PENALTY}] (1: off)`) ?? d.repetitionPenalty ?? 1;
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
  const promptK = int(spec.promptLogprobs, 'promptLogprobs', 0, REQUEST_LIMITS.maxTopLogprobs);
  if (promptK !== undefined && spec.stream) throw new InvalidRequestError('promptLogprobs come with the whole response; send the request without stream (or, on completions, use echo with logprobs, which streams)', 'promptLogprobs');

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
  // The guides' patterns, checked by the guide checker off the event loop (or here, for a direct call).
  const toolPattern = checked ? patternOf(checked.tool) : null;
  const asked = checked ? (patternOf(checked.guide) ?? undefined) : undefined;
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
  const sampling = { temperature, topP, topK: topK > 0 ? topK : 0, ...(minP > 0 ? { minP } : {}), ...repetition, ...tokenRules, ...(presencePenalty !== 0 ? { presencePenalty } : {}), ...(frequencyPenalty !== 0 ? { frequencyPenalty } : {}), ...(logitBias.length ? { logitBias } : {}), ...(guide ? { guide: { regex: guide } } : {}) };
  const guideField = toolPattern ? 'toolChoice' : asked ? (GUIDE_FIELDS.find((k) => spec[k] !== undefined && spec[k] !== false) ?? 'guidedRegex') : null;
  const beam = checkBeamSearch(spec, sampling, guideField);
  return {
    promptTokens: prompt.tokens,
    promptText: prompt.text,
    n: bestOf,
    returnN: n,
    maxTokens,
    ...(beam ? { beam } : {}),
    sampling,
    seed: seed ?? Math.floor(Math.random() * 2 ** 31),
    stop,
    ...endRules,
    ignoreEos: spec.ignoreEos ?? false,
    logprobs: spec.logprobs ?? false,
    topLogprobs,
    echo: spec.echo ?? false,
    promptLogprobs: promptK ?? (spec.echo && spec.logprobs ? topLogprobs : null),
    ...(promptK !== undefined ? { returnPromptLogprobs: true } : {}),
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
