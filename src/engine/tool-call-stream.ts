/**
 * Reads a `required` tool-call text as it streams: `[{"name": "f", "parameters": {...}}, ...]`, the
 * shape the tool guide holds every candidate to (tool-calls.ts), so each call can be streamed as
 * OpenAI streams them: opened once its name is complete, then its arguments (the raw JSON text of
 * its `parameters`) piece by piece. A character scanner with JSON string and depth state; it needs
 * no lookahead, so every piece is handled once, in order.
 */

export type CallEvent = { kind: 'open'; index: number; name: string } | { kind: 'args'; index: number; text: string };

export class ToolCallStream {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** The string being read at the call's own level (a key or the name), or null. */
  private str: string | null = null;
  private key: string | null = null;
  private afterColon = false;
  private index = -1;
  /** While inside the `parameters` value: the depth it started at, and whether it is a string or a bare scalar. */
  private args: { depth: number; scalar: 'string' | 'bare' | null } | null = null;

  /** Feeds the next piece of text; returns the calls opened and argument text it completes. */
  push(piece: string): CallEvent[] {
    const out: CallEvent[] = [];
    let argText = '';
    const flushArgs = () => {
      if (argText) out.push({ kind: 'args', index: this.index, text: argText });
      argText = '';
    };
    for (const ch of piece) {
      if (this.args) {
        const mine = this.argsChar(ch);
        if (mine) argText += ch;
        if (!this.args) flushArgs(); // the arguments just ended
        if (mine) continue;
      }
      if (this.structural(ch, out)) argText += ch;
    }
    flushArgs();
    return out;
  }

  /** One character while the arguments are open: true when it belongs to them (else they just ended). */
  private argsChar(ch: string): boolean {
    const a = this.args!;
    if (this.inString) {
      if (this.escaped) this.escaped = false;
      else if (ch === '\\') this.escaped = true;
      else if (ch === '"') {
        this.inString = false;
        if (a.scalar === 'string') this.args = null; // the closing quote is the value's last character
        return true;
      }
      return true;
    }
    if (a.scalar === 'bare') {
      if (ch === ',' || ch === '}' || /\s/.test(ch)) {
        this.args = null;
        return false;
      }
      return true;
    }
    if (ch === '"') this.inString = true;
    else if (ch === '{' || ch === '[') this.depth++;
    else if (ch === '}' || ch === ']') {
      this.depth--;
      if (this.depth === a.depth) this.args = null; // its closing bracket is its last character
    }
    return true;
  }

  /** One character outside the arguments: the array, the call objects, their keys and the name; true when it opens the arguments. */
  private structural(ch: string, out: CallEvent[]): boolean {
    if (this.inString) {
      if (this.escaped) {
        this.escaped = false;
        this.str += ch;
      } else if (ch === '\\') {
        this.escaped = true;
        this.str += ch;
      } else if (ch === '"') {
        this.inString = false;
        const s = JSON.parse(`"${this.str}"`) as string;
        this.str = null;
        if (!this.afterColon) this.key = s;
        else if (this.key === 'name') out.push({ kind: 'open', index: this.index, name: s });
      } else this.str += ch;
      return false;
    }
    if (/\s/.test(ch)) return false;
    if (this.depth === 2 && this.afterColon && this.key === 'parameters') {
      // The first character of the arguments value.
      this.afterColon = false;
      if (ch === '{' || ch === '[') {
        this.args = { depth: 2, scalar: null };
        this.depth++;
      } else if (ch === '"') {
        this.args = { depth: 2, scalar: 'string' };
        this.inString = true;
      } else this.args = { depth: 2, scalar: 'bare' };
      return true;
    }
    if (ch === '"') {
      this.inString = true;
      this.str = '';
    } else if (ch === ':') this.afterColon = true;
    else if (ch === ',') {
      this.afterColon = false;
      this.key = null;
    } else if (ch === '{' || ch === '[') {
      this.depth++;
      if (this.depth === 2 && ch === '{') this.index++;
    } else if (ch === '}' || ch === ']') {
      this.depth--;
      this.afterColon = false;
      this.key = null;
    }
    return false;
  }
}

/** The calls a `required` tool-call text makes, as far as it got (each call's arguments as written). */
export function callsOf(text: string): { name: string; arguments: string }[] {
  const calls: { name: string; arguments: string }[] = [];
  for (const e of new ToolCallStream().push(text)) {
    if (e.kind === 'open') calls[e.index] = { name: e.name, arguments: '' };
    else calls[e.index]!.arguments += e.text;
  }
  return calls;
}
