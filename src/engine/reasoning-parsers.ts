/**
 * Reasoning models write their thinking before the answer, between `<think>` and `</think>`; as
 * vLLM's `--reasoning-parser`, a chat answer is split into that reasoning (`reasoning_content`) and
 * its content (what follows, where tool calls and the answer are read):
 * - `deepseek_r1` (DeepSeek-R1 and its distills, whose template opens `<think>` in the prompt): the
 *   text up to `</think>` is reasoning, a leading `<think>` dropped; without `</think>` all of it is;
 * - `qwen3` (Qwen3, QwQ): a text that begins with `<think>` reasons up to `</think>` (all of it when
 *   unclosed); any other text is all content.
 * ReasoningStream splits a text as it streams, so that the pieces add up to the unstreamed split.
 */

export const REASONING_PARSERS = ['deepseek_r1', 'qwen3'] as const;
export type ReasoningParserName = (typeof REASONING_PARSERS)[number];

const OPEN = '<think>';
const CLOSE = '</think>';

export interface ReasoningSplit {
  /** The thinking (null: none). */
  reasoning: string | null;
  content: string;
}

/** Where the reasoning starts in `text` (after a leading `<think>`), or -1 when the text has none (qwen3), or null while undecided. */
function reasoningStart(parser: ReasoningParserName, text: string): number | null {
  const lead = text.length - text.trimStart().length;
  const head = text.slice(lead);
  if (head.startsWith(OPEN)) return lead + OPEN.length;
  if (parser === 'deepseek_r1') return head.length < OPEN.length && OPEN.startsWith(head) ? null : 0;
  return OPEN.startsWith(head) ? null : -1;
}

/** The reasoning and content of a finished answer. */
export function splitReasoning(parser: ReasoningParserName, text: string): ReasoningSplit {
  const start = reasoningStart(parser, text) ?? (parser === 'deepseek_r1' ? 0 : -1);
  if (start < 0) return { reasoning: null, content: text };
  const end = text.indexOf(CLOSE, start);
  if (end < 0) return { reasoning: text.slice(start), content: '' };
  return { reasoning: text.slice(start, end), content: text.slice(end + CLOSE.length) };
}

/** A streamed answer's reasoning and content, piece by piece (a tag split across pieces is held until whole). */
export class ReasoningStream {
  private text = '';
  /** How far the text has been sent (as reasoning, or once past `</think>`, as content). */
  private sent = 0;

  constructor(private readonly parser: ReasoningParserName) {}

  /** Adds a piece; returns what to send now of each part. */
  push(piece: string, done: boolean): { reasoning: string; content: string } {
    this.text += piece;
    const t = this.text;
    const start = done ? (reasoningStart(this.parser, t) ?? (this.parser === 'deepseek_r1' ? 0 : -1)) : reasoningStart(this.parser, t);
    if (start === null) return { reasoning: '', content: '' };
    if (start < 0) return { reasoning: '', content: this.take(t.length) };
    this.sent = Math.max(this.sent, start);
    const end = t.indexOf(CLOSE, start);
    if (end < 0) {
      // Hold what may be the start of `</think>`.
      let upTo = t.length;
      if (!done) for (let n = Math.min(CLOSE.length - 1, t.length); n > 0; n--) if (CLOSE.startsWith(t.slice(-n))) {
        upTo = t.length - n;
        break;
      }
      return { reasoning: this.take(Math.max(this.sent, upTo)), content: '' };
    }
    const reasoning = this.sent <= end ? this.take(end) : '';
    this.sent = Math.max(this.sent, end + CLOSE.length);
    return { reasoning, content: this.take(t.length) };
  }

  private take(upTo: number): string {
    const out = this.text.slice(this.sent, upTo);
    this.sent = Math.max(this.sent, upTo);
    return out;
  }
}
