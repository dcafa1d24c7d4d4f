/**
 * A request's prompt as the model reads it: chat messages through the model's chat template (with
 * vLLM's add_generation_prompt, continue_final_message and chat_template_kwargs), text or token ids,
 * tokenized, and cut to its last tokens with truncate_prompt_tokens. Requests, /tokenize and the
 * offline tools all render here, so they feed the same tokens.
 */
import { InvalidRequestError } from '../errors.ts';
import type { ModelInfo } from '../model/model-info.ts';
import { TEMPLATE_VARIABLES, type ChatTemplate } from '../text/chat-template.ts';
import { checkTokenIds, int, REQUEST_LIMITS } from './request-checks.ts';
import type { RequestSpec, TextTokenizer } from './types.ts';

/** What rendering a prompt needs from the server. */
export interface PromptServices {
  info: ModelInfo;
  tokenizer: TextTokenizer;
  chatTemplate: ChatTemplate | null;
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
  s: PromptServices,
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
export function truncatePrompt(s: Pick<PromptServices, 'tokenizer'>, p: { text: string; tokens: number[]; field: string }, keep: number | undefined): { text: string; tokens: number[]; field: string } {
  const k = int(keep, 'truncatePromptTokens', 1, 2 ** 31 - 1, 'an integer >= 1');
  if (k === undefined || p.tokens.length <= k) return p;
  const tokens = p.tokens.slice(-k);
  return { ...p, text: s.tokenizer.decode(tokens), tokens };
}
