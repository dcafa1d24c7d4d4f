/**
 * `tool_choice: "auto"`: the model writes free text, and the calls it chose to make are read back
 * from it in its own tool-call format, as vLLM's `--tool-call-parser` reads them:
 * - `hermes` (Qwen 2.5, Hermes, many others): `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`
 *   blocks after any text (the content); the last block may be left unclosed at the end;
 * - `mistral`: `[TOOL_CALLS]` then a JSON array of `{"name", "arguments"}` after any text;
 * - `llama3_json` (Llama 3.1 / 3.2): the whole answer is `{"name": ..., "parameters": {...}}`
 *   (several joined by `;`), optionally after `<|python_tag|>`;
 * - `json` (skipserve's own, the shape `required` guides): the whole answer is a JSON array of
 *   `{"name", "parameters"}` calls, or one such object.
 * A text whose calls do not parse, or name a function not among the tools, or give arguments
 * that are not a JSON object, is content as written. `holdFrom` says where a streamed text may be
 * starting its calls, so a stream holds that part back (tool-call-auto-stream.ts).
 */
import type { ToolCall } from './tool-calls.ts';

export const TOOL_PARSERS = ['json', 'hermes', 'llama3_json', 'mistral'] as const;
export type ToolParserName = (typeof TOOL_PARSERS)[number];

/** What a text says: its content (null: none) and the calls it makes (none: the text is all content). */
export interface ParsedCalls {
  content: string | null;
  calls: ToolCall[];
}

/** The marker after which calls follow, for the parsers whose calls may come after some text. */
const MARKER: Partial<Record<ToolParserName, string>> = { hermes: '<tool_call>', mistral: '[TOOL_CALLS]' };
/** How a whole-answer call starts (after leading whitespace), for the parsers whose calls are the whole answer. */
const OPENERS: Partial<Record<ToolParserName, string[]>> = { json: ['[', '{'], llama3_json: ['{', '<|python_tag|>'] };

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** One call object `{name, <argsKey>}` as OpenAI's shape, or null when it is not a call to one of the tools. */
function callOf(v: unknown, names: ReadonlySet<string>, argsKeys: readonly string[]): ToolCall | null {
  if (!isObject(v) || typeof v.name !== 'string' || !names.has(v.name)) return null;
  const key = argsKeys.find((k) => k in v);
  let args: unknown = key === undefined ? {} : v[key];
  if (typeof args === 'string') {
    try {
      args = JSON.parse(args);
    } catch {
      return null;
    }
  }
  return isObject(args) ? { name: v.name, arguments: JSON.stringify(args) } : null;
}

/** Every item a call, or null. */
function allCalls(items: unknown[], names: ReadonlySet<string>, argsKeys: readonly string[]): ToolCall[] | null {
  const calls = items.map((v) => callOf(v, names, argsKeys));
  return calls.length > 0 && calls.every((c) => c !== null) ? (calls as ToolCall[]) : null;
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** The calls after the marker, or null. */
function markedCalls(parser: 'hermes' | 'mistral', rest: string, names: ReadonlySet<string>): ToolCall[] | null {
  if (parser === 'mistral') {
    const v = parseJson(rest.trim());
    return Array.isArray(v) ? allCalls(v, names, ['arguments', 'parameters']) : null;
  }
  // hermes: `<tool_call>` was cut off the front; blocks are separated by `</tool_call>` and the next opener.
  const blocks = rest.split('<tool_call>');
  const items: unknown[] = [];
  for (const [i, block] of blocks.entries()) {
    const end = block.indexOf('</tool_call>');
    // Only the last block may be left unclosed, and nothing but space may follow a closed one.
    if (end < 0 && i < blocks.length - 1) return null;
    if (end >= 0 && block.slice(end + '</tool_call>'.length).trim() !== '') return null;
    const v = parseJson((end < 0 ? block : block.slice(0, end)).trim());
    if (v === undefined) return null;
    items.push(v);
  }
  return allCalls(items, names, ['arguments', 'parameters']);
}

/** The content and calls of a finished answer under `parser`; `names` are the tools' names. */
export function parseToolCalls(parser: ToolParserName, text: string, names: ReadonlySet<string>): ParsedCalls {
  const asText = { content: text, calls: [] };
  const marker = MARKER[parser];
  if (marker) {
    const at = text.indexOf(marker);
    if (at < 0) return asText;
    const calls = markedCalls(parser as 'hermes' | 'mistral', text.slice(at + marker.length), names);
    return calls ? { content: text.slice(0, at).trimEnd() || null, calls } : asText;
  }
  let body = text.trim();
  if (parser === 'llama3_json') {
    if (body.startsWith('<|python_tag|>')) body = body.slice('<|python_tag|>'.length).trim();
    const parts = body.split(/\s*;\s*(?=\{)/);
    const calls = allCalls(parts.map(parseJson), names, ['parameters', 'arguments']);
    return calls ? { content: null, calls } : asText;
  }
  const v = parseJson(body);
  const calls = allCalls(Array.isArray(v) ? v : [v], names, ['parameters', 'arguments']);
  return calls ? { content: null, calls } : asText;
}

/**
 * Where, in a text still being written, its calls may be starting: a stream sends the text before
 * this and holds the rest until the answer is complete. Trailing space is held too, since content
 * before calls ends without it.
 */
export function holdFrom(parser: ToolParserName, text: string): number {
  const trimmed = text.trimEnd().length;
  const openers = OPENERS[parser];
  if (openers) {
    const start = text.length - text.trimStart().length;
    const head = text.slice(start);
    // A whole-answer call: everything from its first character is held; so is a start that may become one.
    return head === '' || openers.some((o) => head.startsWith(o) || o.startsWith(head)) ? 0 : trimmed;
  }
  const marker = MARKER[parser]!;
  // Space before the marker, or before what may be its beginning, is held with it.
  const before = (at: number) => text.slice(0, at).trimEnd().length;
  const at = text.indexOf(marker);
  if (at >= 0) return before(at);
  // The longest end of the text that could be the marker's beginning.
  for (let n = Math.min(marker.length - 1, text.length); n > 0; n--) if (marker.startsWith(text.slice(-n))) return before(text.length - n);
  return trimmed;
}
