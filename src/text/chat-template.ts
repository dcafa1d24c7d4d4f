/**
 * Chat templates: renders OpenAI-style messages into the prompt text with the model's own Jinja
 * template from tokenizer_config.json (`chat_template`), using @huggingface/jinja.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';

export interface ChatMessage {
  role: string;
  content: string;
  /** An assistant turn's earlier tool calls, as chat templates read them (OpenAI's shape). */
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  /** A tool turn: the call it answers. */
  tool_call_id?: string;
}

/** A compiled chat template plus the special tokens it may refer to. */
export interface ChatTemplate {
  /**
   * Renders messages; `addGenerationPrompt` appends the assistant turn's opening; `tools` go to
   * templates that describe them; `kwargs` are more variables for the template (vLLM's
   * chat_template_kwargs, e.g. `enable_thinking`), never in place of those it is given here.
   */
  render(messages: ChatMessage[], addGenerationPrompt?: boolean, tools?: readonly unknown[], kwargs?: Record<string, unknown>): string;
  /** The template source (for logs and tests). */
  readonly source: string;
}

type TemplateField = string | { name: string; template: string }[] | undefined;

/** Picks the `default` entry when tokenizer_config.json lists named templates. */
function pickTemplate(field: TemplateField): string | null {
  if (typeof field === 'string') return field;
  if (Array.isArray(field)) {
    const named = field.find((t) => t.name === 'default') ?? field[0];
    return named?.template ?? null;
  }
  return null;
}

/** Returns a special-token field's text (it may be a string or an AddedToken object). */
function tokenText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && 'content' in v) return String((v as { content: unknown }).content);
  return '';
}

/** Template variables the server sets itself (chat_template_kwargs may not name them). */
export const TEMPLATE_VARIABLES = ['messages', 'tools', 'add_generation_prompt', 'bos_token', 'eos_token', 'pad_token', 'unk_token'];

/** Compiles a template source with the special tokens it may use. */
export function compileChatTemplate(source: string, specialTokens: Record<string, string> = {}): ChatTemplate {
  const template = new Template(source);
  return {
    source,
    render(messages, addGenerationPrompt = true, tools, kwargs = {}) {
      return template.render({
        ...kwargs,
        messages,
        ...(tools?.length ? { tools } : {}),
        add_generation_prompt: addGenerationPrompt,
        bos_token: specialTokens.bos_token ?? '',
        eos_token: specialTokens.eos_token ?? '',
        pad_token: specialTokens.pad_token ?? '',
        unk_token: specialTokens.unk_token ?? '',
      });
    },
  };
}

/**
 * Loads the chat template of a checkpoint directory (tokenizer_config.json's `chat_template`,
 * else a chat_template.jinja / chat_template.json file). Returns null when the model has none;
 * the chat route then refuses with a clear error rather than guessing a format.
 */
export function loadChatTemplate(dir: string): ChatTemplate | null {
  const cfgPath = join(dir, 'tokenizer_config.json');
  const cfg: Record<string, unknown> = existsSync(cfgPath) ? JSON.parse(readFileSync(cfgPath, 'utf8')) : {};
  let source = pickTemplate(cfg.chat_template as TemplateField);
  const jinjaPath = join(dir, 'chat_template.jinja');
  const jsonPath = join(dir, 'chat_template.json');
  if (!source && existsSync(jinjaPath)) source = readFileSync(jinjaPath, 'utf8');
  if (!source && existsSync(jsonPath)) source = pickTemplate(JSON.parse(readFileSync(jsonPath, 'utf8')).chat_template);
  if (!source) return null;
  const special: Record<string, string> = {};
  for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) special[key] = tokenText(cfg[key]);
  return compileChatTemplate(source, special);
}
