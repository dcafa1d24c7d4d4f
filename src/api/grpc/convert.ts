/**
 * proto <-> domain: a GenerateRequest message maps straight to the engine's RequestSpec (checked
 * once, by prepareRequest, like every other request) and a domain result to a GenerateResponse.
 */
import { InvalidRequestError } from '../../errors.ts';
import type { CandidateDelta, EchoedPrompt, GenerationResult, RequestSpec, TextTokenizer, TokenLogprob } from '../../engine/types.ts';
import type { SelectMode } from '../../engine/vote.ts';
import { planToWire, type SkipPlan, type SkipPlanWire } from '../../plans/plan.ts';
import { diversityToWire } from '../diversity-wire.ts';
import type { CandidateDeltaMsg, CandidateMsg, EchoedPromptMsg, GenerateRequestMsg, GenerateResponseMsg, SkipPlanMsg, TokenLogprobMsg } from './messages.ts';
import { chatAnswer } from '../../engine/chat-answer.ts';
import type { ReasoningParserName } from '../../engine/reasoning-parsers.ts';
import type { ToolDef, ToolFields, ToolMode } from '../../engine/tool-calls.ts';
import type { ToolParserName } from '../../engine/tool-parsers.ts';
import type { ChatMessage } from '../../text/chat-template.ts';
import { newCallId } from '../tool-call-id.ts';
import { withReasoningEffort } from '../reasoning-effort.ts';


function planFromMsg(p: SkipPlanMsg): SkipPlanWire {
  const mask: Record<string, number[]> = {};
  for (const [layer, list] of Object.entries(p.mask_heads ?? {})) mask[layer] = list.heads;
  return { skip_layers: p.skip_layers, skip_attention: p.skip_attention, skip_mlp: p.skip_mlp, mask_heads: mask };
}

/** Domain plan -> proto plan. */
export function planToMsg(plan: SkipPlan): SkipPlanMsg {
  const w = planToWire(plan);
  return {
    skip_layers: w.skip_layers ?? [],
    skip_attention: w.skip_attention ?? [],
    skip_mlp: w.skip_mlp ?? [],
    mask_heads: Object.fromEntries(Object.entries(w.mask_heads ?? {}).map(([l, heads]) => [l, { heads }])),
  };
}

const ROLES = ['system', 'user', 'assistant', 'developer', 'tool'];

/** A JSON object given as text, or an InvalidRequestError naming `field`. */
function jsonObject(text: string, field: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new InvalidRequestError(`not valid JSON: ${(err as Error).message}`, field);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InvalidRequestError('must be a JSON object', field);
  return v as Record<string, unknown>;
}

/** The request's messages in domain terms: an assistant turn's earlier calls and a tool turn's call id as chat's. */
function messagesFromMsg(m: GenerateRequestMsg): ChatMessage[] {
  return m.messages.map((x, i) => {
    if (!ROLES.includes(x.role)) throw new InvalidRequestError(`role must be ${ROLES.join(', ')}; got '${x.role}'`, `messages[${i}].role`);
    if (x.role === 'tool' && !x.tool_call_id) throw new InvalidRequestError(`messages[${i}] is a tool message: it needs the tool_call_id it answers`, `messages[${i}].tool_call_id`);
    const calls = x.tool_calls ?? [];
    if (calls.length && x.role !== 'assistant') throw new InvalidRequestError(`messages[${i}].tool_calls belong to assistant messages`, `messages[${i}].tool_calls`);
    return {
      role: x.role,
      content: x.content,
      ...(calls.length ? { tool_calls: calls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })) } : {}),
      ...(x.tool_call_id ? { tool_call_id: x.tool_call_id } : {}),
    };
  });
}

/** The request's tool fields in domain terms; `toolParser` is the server's --tool-call-parser. */
function toolFieldsFromMsg(m: GenerateRequestMsg, toolParser: ToolParserName | undefined): ToolFields {
  const tools = (m.tools ?? []).map((t, i): ToolDef => ({
    type: 'function',
    function: { name: t.name, ...(t.description ? { description: t.description } : {}), ...(t.parameters ? { parameters: jsonObject(t.parameters, `tools[${i}].parameters`) } : {}) },
  }));
  const c = m.tool_choice;
  return {
    ...(tools.length ? { tools } : {}),
    ...(c ? { toolChoice: c === 'none' || c === 'auto' || c === 'required' ? c : { name: c } } : {}),
    ...(m.parallel_tool_calls !== undefined ? { parallelToolCalls: m.parallel_tool_calls } : {}),
    ...(toolParser ? { toolParser } : {}),
  };
}

/** A GenerateRequest as a RequestSpec; what proto types cannot say (one of prompt/messages, roles) is checked here. */
export function specFromMsg(m: GenerateRequestMsg, toolParser?: ToolParserName): RequestSpec {
  const hasPrompt = m.prompt !== '';
  const hasMessages = m.messages.length > 0;
  if (hasPrompt === hasMessages) throw new InvalidRequestError('set exactly one of prompt or messages', hasPrompt ? 'messages' : 'prompt');
  if (m.echo && hasMessages) throw new InvalidRequestError('echo is for prompt requests (OpenAI completions), not messages', 'echo');
  if (hasPrompt && (m.add_generation_prompt !== undefined || m.continue_final_message)) throw new InvalidRequestError('add_generation_prompt and continue_final_message apply to messages', m.continue_final_message ? 'continue_final_message' : 'add_generation_prompt');
  if (hasPrompt && (m.tools?.length || m.tool_choice || m.chat_template_kwargs || m.reasoning_effort)) {
    const field = m.tools?.length ? 'tools' : m.tool_choice ? 'tool_choice' : m.chat_template_kwargs ? 'chat_template_kwargs' : 'reasoning_effort';
    throw new InvalidRequestError('tools, tool_choice, chat_template_kwargs and reasoning_effort apply to messages', field);
  }
  const kwargs = hasMessages ? withReasoningEffort(m.chat_template_kwargs ? jsonObject(m.chat_template_kwargs, 'chat_template_kwargs') : undefined, m.reasoning_effort || undefined, 'reasoning_effort') : undefined;
  const tools = hasMessages ? toolFieldsFromMsg(m, toolParser) : {};
  const s = m.skip;
  return {
    model: m.model || undefined,
    ...tools,
    prompt: hasPrompt
      ? { kind: 'text', text: m.prompt }
      : {
          kind: 'chat',
          messages: messagesFromMsg(m),
          ...(tools.tools ? { tools: tools.tools } : {}),
          ...(m.add_generation_prompt !== undefined ? { addGenerationPrompt: m.add_generation_prompt } : {}),
          ...(m.continue_final_message ? { continueFinalMessage: true } : {}),
          ...(kwargs ? { templateKwargs: kwargs } : {}),
        },
    n: m.n,
    bestOf: m.best_of,
    maxTokens: m.max_tokens,
    temperature: m.temperature,
    topP: m.top_p,
    topK: m.top_k,
    minP: m.min_p,
    presencePenalty: m.presence_penalty,
    frequencyPenalty: m.frequency_penalty,
    logitBias: m.logit_bias && Object.keys(m.logit_bias).length ? m.logit_bias : undefined,
    repetitionPenalty: m.repetition_penalty,
    allowedTokenIds: m.allowed_token_ids?.length ? m.allowed_token_ids : undefined,
    badWords: m.bad_words?.length ? m.bad_words : undefined,
    stopTokenIds: m.stop_token_ids?.length ? m.stop_token_ids : undefined,
    minTokens: m.min_tokens,
    priority: m.priority,
    truncatePromptTokens: m.truncate_prompt_tokens,
    ...(m.include_stop_str_in_output ? { includeStopStrInOutput: true } : {}),
    seed: m.seed,
    stop: m.stop.length ? m.stop : undefined,
    ignoreEos: m.ignore_eos,
    ...(m.use_beam_search ? { useBeamSearch: true } : {}),
    lengthPenalty: m.length_penalty,
    ...(m.skip_special_tokens === false ? { skipSpecialTokens: false } : {}),
    metadata: m.metadata && Object.keys(m.metadata).length ? m.metadata : undefined,
    logprobs: m.logprobs,
    topLogprobs: m.top_logprobs,
    ...(m.echo ? { echo: true } : {}),
    guidedRegex: m.guided_regex || undefined,
    guidedChoice: m.guided_choice?.length ? m.guided_choice : undefined,
    guidedJson: m.guided_json || undefined,
    guidedGrammar: m.guided_grammar || undefined,
    skip: s
      ? {
          policy: s.policy || undefined,
          plan: s.plan ? planFromMsg(s.plan) : undefined,
          plans: s.plans.length ? s.plans.map(planFromMsg) : undefined,
          k: s.k,
          targetSpeedup: s.target_speedup,
          coreFraction: s.core_fraction,
          domain: s.domain || undefined,
          select: (s.select || undefined) as SelectMode | undefined,
          answerPattern: s.answer_pattern || undefined,
          referenceAnswer: s.reference_answer || undefined,
        }
      : undefined,
  };
}

const topToMsg = (tok: TextTokenizer, l: TokenLogprob): TokenLogprobMsg['top_logprobs'] => l.top.map((t) => ({ token: tok.tokenText(t.token), token_id: t.token, logprob: t.logprob }));

function logprobsToMsg(tok: TextTokenizer, lps: TokenLogprob[]): TokenLogprobMsg[] {
  return lps.map((l) => ({ token: tok.tokenText(l.token), token_id: l.token, logprob: l.logprob, top_logprobs: topToMsg(tok, l) }));
}

/** An echoed prompt as a proto message: with logprobs, one entry per token (no logprob where none was scored). */
export function promptToMsg(tok: TextTokenizer, p: EchoedPrompt): EchoedPromptMsg {
  const tokens = (p.logprobs ?? []).map((l, i) => {
    const id = p.tokenIds[i]!;
    return { token_id: id, token: tok.tokenText(id), ...(l ? { logprob: l.logprob } : {}), top_logprobs: l ? topToMsg(tok, l) : [] };
  });
  return { text: p.text, token_ids: p.tokenIds, tokens };
}

/** One streamed delta as a proto message. */
export function deltaToMsg(tok: TextTokenizer, d: CandidateDelta): CandidateDeltaMsg {
  return { index: d.index, text: d.text, token_ids: d.tokenIds, finish_reason: d.finishReason ?? '', logprobs: logprobsToMsg(tok, d.logprobs) };
}


/** The whole result as a GenerateResponse. */
/** A messages request's candidate as its chat message gives it (content, calls, reasoning); empty fields for a prompt request. */
function answerFields(text: string, chat: ChatReading | null): Pick<CandidateMsg, 'content' | 'has_content' | 'tool_calls' | 'reasoning'> {
  if (!chat) return { content: '', has_content: false, tool_calls: [], reasoning: '' };
  const a = chatAnswer(text, chat.toolMode, chat.reasoning);
  return { content: a.content ?? '', has_content: a.content !== null, tool_calls: a.calls.map((c) => ({ id: newCallId(), name: c.name, arguments: c.arguments })), reasoning: a.reasoning ?? '' };
}

/** How a messages request's candidates read as chat messages: its tool mode and the server's reasoning parser. */
export interface ChatReading {
  toolMode: ToolMode | null;
  reasoning: ReasoningParserName | undefined;
}

export function resultToMsg(tok: TextTokenizer, id: string, model: string, created: number, r: GenerationResult, chat: ChatReading | null = null): GenerateResponseMsg {
  return {
    id,
    model,
    created,
    // With best_of, the n best (best first); each keeps its candidate index.
    candidates: (r.returned ? r.returned.map((i) => r.candidates[i]!) : r.candidates).map((c) => ({
      index: c.index,
      text: c.text,
      token_ids: c.tokenIds,
      finish_reason: c.finishReason,
      skip_plan: planToMsg(c.plan),
      answer: c.answer ?? '',
      has_answer: c.answer !== null,
      mean_logprob: Number.isFinite(c.meanLogprob) ? c.meanLogprob : 0,
      selected: r.selectedIndex === c.index,
      logprobs: logprobsToMsg(tok, c.logprobs),
      ...answerFields(c.text, chat),
    })),
    skip: {
      policy: r.policy,
      arm: r.arm ?? '',
      selected_index: r.selectedIndex ?? -1,
      speedup: r.speedup ?? 0,
      skipped_compute_ratio: r.skippedComputeRatio,
      diversity: diversityToWire(r.diversity),
      reference_answer: r.referenceAnswer ?? '',
      matched_reference: r.matchedReference ?? false,
    },
    usage: { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens, cached_prompt_tokens: r.cachedTokens },
    ...(r.prompt ? { prompt: promptToMsg(tok, r.prompt) } : {}),
  };
}
