/**
 * Domain field names -> wire field names, shared by HTTP (OpenAI JSON) and gRPC (the proto uses the
 * same snake_case names). Only the head of a path is renamed: `plans[1].skip_attention[0]` becomes
 * `skip.plans[1].skip_attention[0]`. Names already in wire form pass through unchanged.
 */
const WIRE: Record<string, string> = {
  policy: 'skip.policy',
  plan: 'skip.plan',
  plans: 'skip.plans',
  k: 'skip.k',
  targetSpeedup: 'skip.target_speedup',
  domain: 'skip.domain',
  coreFraction: 'skip.core_fraction',
  select: 'skip.select',
  answerPattern: 'skip.answer_pattern',
  referenceAnswer: 'skip.reference_answer',
  maxTokens: 'max_tokens',
  topP: 'top_p',
  topK: 'top_k',
  minP: 'min_p',
  presencePenalty: 'presence_penalty',
  frequencyPenalty: 'frequency_penalty',
  logitBias: 'logit_bias',
  repetitionPenalty: 'repetition_penalty',
  allowedTokenIds: 'allowed_token_ids',
  badWords: 'bad_words',
  stopTokenIds: 'stop_token_ids',
  minTokens: 'min_tokens',
  useBeamSearch: 'use_beam_search',
  lengthPenalty: 'length_penalty',
  includeStopStrInOutput: 'include_stop_str_in_output',
  truncatePromptTokens: 'truncate_prompt_tokens',
  addGenerationPrompt: 'add_generation_prompt',
  continueFinalMessage: 'continue_final_message',
  templateKwargs: 'chat_template_kwargs',
  topLogprobs: 'top_logprobs',
  promptLogprobs: 'prompt_logprobs',
  ignoreEos: 'ignore_eos',
  bestOf: 'best_of',
  guidedRegex: 'guided_regex',
  guidedChoice: 'guided_choice',
  guidedJson: 'guided_json',
  guidedGrammar: 'guided_grammar',
  jsonObject: 'response_format',
  toolChoice: 'tool_choice',
  parallelToolCalls: 'parallel_tool_calls',
};

/**
 * The wire name of a domain field; `overrides` rename heads per request (e.g. maxTokens ->
 * max_completion_tokens), or, for a key with `[*]` in it, a path prefix whatever the index
 * (`tools[*].function.` -> `tools[*].`: the Responses API's flat tool entries).
 */
export function wireField(field: string | null, overrides: Record<string, string> = {}): string | null {
  if (field === null) return null;
  for (const [re, to] of pathRewrites(overrides)) {
    const m = new RegExp(`^${re.source}`).exec(field);
    if (m) return to.replace('[*]', `[${m[1]}]`) + field.slice(m[0].length);
  }
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(.*)$/s.exec(field);
  if (!m) return field;
  const name = m[1]!;
  // Own properties only: a field called `constructor` or `__proto__` is a field, not Object's.
  const head = Object.hasOwn(overrides, name) ? overrides[name]! : Object.hasOwn(WIRE, name) ? WIRE[name]! : name;
  return head + m[2]!;
}

/**
 * An error message with the domain field names it mentions in wire form (`maxTokens must be ...`
 * becomes `max_tokens must be ...`), so the message says what the caller sent. Only camelCase
 * names are rewritten: they cannot be ordinary words.
 */
export function wireMessage(message: string, overrides: Record<string, string> = {}): string {
  for (const [re, to] of pathRewrites(overrides)) message = message.replace(re, (_, i: string) => to.replace('[*]', `[${i}]`));
  return message.replace(/\b[a-z]+(?:[A-Z][a-z0-9]*)+\b/g, (name) => (Object.hasOwn(overrides, name) ? overrides[name]! : Object.hasOwn(WIRE, name) ? WIRE[name]! : name));
}

/** The `[*]` overrides as (pattern with the index captured, replacement) pairs. */
function pathRewrites(overrides: Record<string, string>): [RegExp, string][] {
  return Object.entries(overrides)
    .filter(([from]) => from.includes('[*]'))
    .map(([from, to]) => {
      const [pre, post] = from.split('[*]') as [string, string];
      return [new RegExp(`${escapeRe(pre)}\\[(\\d+)\\]${escapeRe(post)}`, 'g'), to];
    });
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
