/**
 * Tool calling by guided decoding (as vLLM does it for a named function or `required`): a request
 * whose `tool_choice` names a function has every candidate write that function's arguments, JSON
 * of its `parameters` schema; `required` has every candidate write a JSON array of calls
 * `{"name": ..., "parameters": {...}}` (exactly one without parallel tool calls). `none` leaves the
 * text free (the tools still go to the chat template). `auto` leaves it free too and reads the calls
 * the model chose to make back from it in the model's own format (tool-parsers.ts), which the server
 * names with --tool-call-parser; without one, `auto` is refused, naming the field.
 */
import { InvalidRequestError } from '../errors.ts';
import { WS } from '../sampling/guided/json-schema.ts';
import { callsOf } from './tool-call-stream.ts';
import { checkedPattern, schemaPattern } from './guided-request.ts';
import { escapeRegex } from '../sampling/guided/regex.ts';
import type { ToolParserName } from './tool-parsers.ts';

/** A function the model may be made to call, as chat templates read it (OpenAI's `tools` entry). */
export interface ToolDef {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

export type ToolChoice = 'none' | 'auto' | 'required' | { name: string };

export interface ToolFields {
  tools?: ToolDef[];
  toolChoice?: ToolChoice;
  /** Several calls per answer under `required` (default true, as OpenAI's). */
  parallelToolCalls?: boolean;
  /** The model's tool-call format, for `auto` (the server's --tool-call-parser; unset: `auto` is refused). */
  toolParser?: ToolParserName;
}

/** How a candidate's text reads back as tool calls. */
export type ToolMode = { kind: 'named'; name: string } | { kind: 'required'; parallel: boolean } | { kind: 'auto'; parser: ToolParserName; names: ReadonlySet<string> };

/** A tool mode whose calls are guided (their text is JSON of a known shape). */
export type GuidedToolMode = Exclude<ToolMode, { kind: 'auto' }>;

/** One call read back from a candidate: the function and its arguments as JSON text (OpenAI's shape). */
export interface ToolCall {
  name: string;
  arguments: string;
}

const MAX_TOOLS = 128;

/** The tool mode a request asks for (null: plain text); `toolGuide` checks the fields. */
export function toolModeOf(f: ToolFields): ToolMode | null {
  const c = f.toolChoice ?? 'auto';
  if (!f.tools?.length || c === 'none') return null;
  if (c === 'auto') return f.toolParser ? { kind: 'auto', parser: f.toolParser, names: new Set(f.tools.map((t) => t.function.name)) } : null;
  return c === 'required' ? { kind: 'required', parallel: f.parallelToolCalls ?? true } : { kind: 'named', name: c.name };
}

/** Checks the tool fields (errors name them) and returns the pattern that guides the candidates, or null. */
export function toolGuide(f: ToolFields): string | null {
  const tools = f.tools ?? [];
  if (tools.length > MAX_TOOLS) throw new InvalidRequestError(`tools has ${tools.length} functions; at most ${MAX_TOOLS}`, 'tools');
  const seen = new Set<string>();
  tools.forEach((t, i) => {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(t.function.name)) throw new InvalidRequestError(`tools[${i}].function.name must be 1 to 64 letters, digits, _ or -`, `tools[${i}].function.name`);
    if (seen.has(t.function.name)) throw new InvalidRequestError(`tools[${i}].function.name '${t.function.name}' is listed twice`, `tools[${i}].function.name`);
    seen.add(t.function.name);
  });
  const c = f.toolChoice ?? (tools.length ? 'auto' : undefined);
  if (c === undefined || c === 'none') return null;
  if (!tools.length) throw new InvalidRequestError('toolChoice needs tools', 'toolChoice');
  if (c === 'auto') {
    if (f.toolParser) return null;
    throw new InvalidRequestError("toolChoice 'auto' (the default when tools are given) reads the calls back in the model's own tool-call format, which this server was not told (start it with --tool-call-parser hermes | mistral | llama3_json | json); or send toolChoice 'required' or a named function (the arguments are then guided JSON of its parameters), or 'none'", 'toolChoice');
  }
  const params = (i: number) => schemaPattern(tools[i]!.function.parameters ?? { type: 'object' }, `tools[${i}].function.parameters`);
  if (c !== 'required') {
    const i = tools.findIndex((t) => t.function.name === c.name);
    if (i < 0) throw new InvalidRequestError(`toolChoice names '${c.name}', which is not among the tools`, 'toolChoice');
    return checkedPattern(params(i), `tools[${i}].function.parameters`);
  }
  const call = `(${tools.map((t, i) => `\\{${WS}"name"${WS}:${WS}${escapeRegex(JSON.stringify(t.function.name))}${WS},${WS}"parameters"${WS}:${WS}${params(i)}${WS}\\}`).join('|')})`;
  // Every tool's schema inside one pattern: too many or too large together is a refusal of `tools`.
  return checkedPattern(f.parallelToolCalls === false ? `\\[${WS}${call}${WS}\\]` : `\\[${WS}${call}(${WS},${WS}${call})*${WS}\\]`, 'tools');
}

/** The calls a candidate's text makes under a guided `mode`, or null when it is not complete JSON of that shape (cut by max_tokens). */
export function readToolCalls(text: string, mode: GuidedToolMode): ToolCall[] | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (mode.kind === 'named') return [{ name: mode.name, arguments: text.trim() }];
  if (!Array.isArray(v)) return null;
  // Each call's arguments as written (what a stream of the same text sends), not re-serialized.
  return callsOf(text);
}
