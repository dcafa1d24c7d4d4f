/**
 * A streamed `tool_choice: "auto"` answer: its text is sent as content as it comes, except what may
 * be the start of its calls (tool-parsers.ts holdFrom), which waits for the end; then the calls go
 * out whole, or, when the held text turns out not to be calls, it goes out as content. What a stream
 * sends adds up to the unstreamed answer: the same content and the same calls.
 */
import type { ToolCall } from './tool-calls.ts';
import { holdFrom, parseToolCalls, type ToolParserName } from './tool-parsers.ts';

export class AutoToolStream {
  private text = '';
  private sent = 0;

  constructor(
    private readonly parser: ToolParserName,
    private readonly names: ReadonlySet<string>,
  ) {}

  /** Adds a piece of the text; returns the content to send now and, once `done`, the calls. */
  push(piece: string, done: boolean): { content: string; calls: ToolCall[] } {
    this.text += piece;
    if (!done) {
      const upTo = Math.max(this.sent, holdFrom(this.parser, this.text));
      const content = this.text.slice(this.sent, upTo);
      this.sent = upTo;
      return { content, calls: [] };
    }
    const { content, calls } = parseToolCalls(this.parser, this.text, this.names);
    const rest = (calls.length ? (content ?? '') : this.text).slice(this.sent);
    this.sent = this.text.length;
    return { content: rest, calls };
  }
}
