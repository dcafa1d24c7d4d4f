/**
 * A chat answer as the message gives it: its reasoning (a reasoning parser's `<think>` part), its
 * content, and under `tool_choice: "auto"` the calls its content made; unstreamed (`splitAnswer`)
 * and streamed (ChatAnswerStream, whose pieces add up to the unstreamed split).
 */
import { AutoToolStream } from './tool-call-auto-stream.ts';
import { readToolCalls, type ToolCall, type ToolMode } from './tool-calls.ts';
import { parseToolCalls } from './tool-parsers.ts';
import { ReasoningStream, splitReasoning, type ReasoningParserName } from './reasoning-parsers.ts';

type AutoMode = Extract<ToolMode, { kind: 'auto' }>;

export interface ChatAnswer {
  reasoning: string | null;
  /** Null when the answer has none (all reasoning, or only calls). */
  content: string | null;
  calls: ToolCall[];
}

/**
 * A finished chat answer as its message gives it, for every tool mode: under a named or `required`
 * choice the guided calls (the text stays content when they are incomplete), otherwise splitAnswer.
 */
export function chatAnswer(text: string, toolMode: ToolMode | null, reasoning: ReasoningParserName | undefined): ChatAnswer {
  if (toolMode && toolMode.kind !== 'auto') {
    const calls = readToolCalls(text, toolMode);
    return calls ? { reasoning: null, content: null, calls } : { reasoning: null, content: text, calls: [] };
  }
  return splitAnswer(text, reasoning, toolMode);
}

/** The finished free-text answer's parts. */
export function splitAnswer(text: string, reasoning: ReasoningParserName | undefined, auto: AutoMode | null): ChatAnswer {
  const r = reasoning ? splitReasoning(reasoning, text) : { reasoning: null, content: text };
  if (!auto) return { reasoning: r.reasoning, content: r.reasoning !== null && r.content === '' ? null : r.content, calls: [] };
  const t = parseToolCalls(auto.parser, r.content, auto.names);
  return { reasoning: r.reasoning, content: t.calls.length ? t.content : r.reasoning !== null && r.content === '' ? null : r.content, calls: t.calls };
}

/** A streamed answer's parts, piece by piece. */
export class ChatAnswerStream {
  private readonly think: ReasoningStream | null;
  private readonly tools: AutoToolStream | null;

  constructor(reasoning: ReasoningParserName | undefined, auto: AutoMode | null) {
    this.think = reasoning ? new ReasoningStream(reasoning) : null;
    this.tools = auto ? new AutoToolStream(auto.parser, auto.names) : null;
  }

  /** Adds a piece of the text; returns what to send now (the calls once `done`). */
  push(piece: string, done: boolean): { reasoning: string; content: string; calls: ToolCall[] } {
    const r = this.think ? this.think.push(piece, done) : { reasoning: '', content: piece };
    if (!this.tools) return { ...r, calls: [] };
    const t = this.tools.push(r.content, done);
    return { reasoning: r.reasoning, content: t.content, calls: t.calls };
  }
}
