/**
 * GBNF grammars (llama.cpp's grammar format, which vLLM's `guided_grammar` also takes) as regexes
 * for guided decoding, the way json-schema.ts turns a schema into one: every rule reference is
 * written out in place, starting from `root`, and a rule that recurses is unrolled MAX_RECURSION
 * deep (below that its recursive branch matches nothing, so the other alternatives end the text).
 * So nesting is bounded, as the JSON guide bounds it, and the rest of a grammar is exact.
 *
 * Syntax: `name ::= alternatives` rules (names of letters, digits and `-`; one named `root`);
 * string literals `"..."` and character classes `[a-z]` / `[^"\\]` with the escapes `\n \r \t \\
 * \" \] \[ \- \xHH \uHHHH \UHHHHHHHH`; `.` (any character); grouping `( )`; alternation `|`;
 * repetition `* + ?` and `{m}` `{m,}` `{m,n}` `{,n}`; `#` comments. Newlines are spaces: a rule
 * ends where the next `name ::=` begins. Token references (`<[id]>`) are refused.
 */
import { escapeRegex } from './regex.ts';

/** A grammar the guide cannot take; the message says where (line:column) and why. */
export class GrammarError extends Error {}

/** How often a recursive rule is unrolled inside itself. */
export const GRAMMAR_RECURSION = 3;
const NEVER = '[^\\s\\S]';
const MAX_REPEAT = 1000;
/** Longest regex a grammar may write out (rules referenced many times multiply). */
const MAX_PATTERN_CHARS = 1_000_000;

type Node =
  | { kind: 'alt'; options: Node[] }
  | { kind: 'seq'; items: Node[] }
  | { kind: 'literal'; text: string }
  | { kind: 'class'; negated: boolean; ranges: [number, number][] }
  | { kind: 'any' }
  | { kind: 'ref'; name: string; at: number }
  | { kind: 'repeat'; node: Node; min: number; max: number | null };

const NAME = /[A-Za-z0-9-]/;

class Parser {
  pos = 0;
  constructor(private readonly src: string) {}

  fail(message: string, at = this.pos): never {
    const before = this.src.slice(0, at).split('\n');
    throw new GrammarError(`${before.length}:${before.at(-1)!.length + 1}: ${message}`);
  }

  /** Skips spaces, newlines and comments. */
  space(): void {
    for (;;) {
      const c = this.src[this.pos];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.pos++;
      else if (c === '#') while (this.pos < this.src.length && this.src[this.pos] !== '\n') this.pos++;
      else return;
    }
  }

  name(): string {
    const start = this.pos;
    while (this.pos < this.src.length && NAME.test(this.src[this.pos]!)) this.pos++;
    if (this.pos === start) this.fail(`expected a rule name, found ${this.src[this.pos] === undefined ? 'the end' : JSON.stringify(this.src[this.pos])}`);
    return this.src.slice(start, this.pos);
  }

  /** Whether a rule definition (`name ::=`) starts here. */
  atRule(): boolean {
    const m = /^[A-Za-z0-9-]+[ \t]*::=/.exec(this.src.slice(this.pos, this.pos + 200));
    return m !== null;
  }

  rules(): Map<string, { node: Node; at: number }> {
    const rules = new Map<string, { node: Node; at: number }>();
    this.space();
    while (this.pos < this.src.length) {
      const at = this.pos;
      const name = this.name();
      this.space();
      if (!this.src.startsWith('::=', this.pos)) this.fail(`expected '::=' after the rule name '${name}'`);
      this.pos += 3;
      if (rules.has(name)) this.fail(`rule '${name}' is defined twice`, at);
      rules.set(name, { node: this.alternatives(false), at });
      this.space();
    }
    return rules;
  }

  alternatives(nested: boolean): Node {
    const options = [this.sequence(nested)];
    while (this.src[this.pos] === '|') {
      this.pos++;
      options.push(this.sequence(nested));
    }
    return options.length === 1 ? options[0]! : { kind: 'alt', options };
  }

  sequence(nested: boolean): Node {
    const items: Node[] = [];
    for (;;) {
      this.space();
      const c = this.src[this.pos];
      if (c === undefined || c === '|' || (c === ')' && nested) || (!nested && this.atRule())) break;
      items.push(this.postfix(this.atom()));
    }
    return items.length === 1 ? items[0]! : { kind: 'seq', items };
  }

  atom(): Node {
    const c = this.src[this.pos]!;
    const at = this.pos;
    if (c === '"') return this.literal();
    if (c === '[') return this.charClass();
    if (c === '.') {
      this.pos++;
      return { kind: 'any' };
    }
    if (c === '(') {
      this.pos++;
      const inner = this.alternatives(true);
      this.space();
      if (this.src[this.pos] !== ')') this.fail("expected ')'");
      this.pos++;
      return inner;
    }
    if (c === '<' || c === '!') this.fail('token references (<[id]>) are not supported: write the text the token stands for');
    if (NAME.test(c)) return { kind: 'ref', name: this.name(), at };
    return this.fail(`unexpected ${JSON.stringify(c)}`);
  }

  postfix(node: Node): Node {
    for (;;) {
      const c = this.src[this.pos];
      if (c === '*') node = { kind: 'repeat', node, min: 0, max: null };
      else if (c === '+') node = { kind: 'repeat', node, min: 1, max: null };
      else if (c === '?') node = { kind: 'repeat', node, min: 0, max: 1 };
      else if (c === '{') {
        const m = /^\{\s*(\d*)\s*(,\s*(\d*)\s*)?\}/.exec(this.src.slice(this.pos, this.pos + 40));
        if (!m || (m[1] === '' && m[2] === undefined)) this.fail('expected {m}, {m,}, {m,n} or {,n}');
        const min = m[1] === '' ? 0 : Number(m[1]);
        const max = m[2] === undefined ? min : m[3] === '' ? null : Number(m[3]);
        if (min > MAX_REPEAT || (max !== null && (max > MAX_REPEAT || max < min))) this.fail(`a repetition's bounds must be ordered and at most ${MAX_REPEAT}`);
        this.pos += m[0].length - 1;
        node = { kind: 'repeat', node, min, max };
      } else return node;
      this.pos++;
    }
  }

  /** One character of a literal or class, escapes decoded; returns its code point. */
  char(): number {
    const c = this.src.codePointAt(this.pos);
    if (c === undefined) this.fail('unterminated literal or class');
    if (c !== 0x5c) {
      this.pos += c > 0xffff ? 2 : 1;
      return c;
    }
    const e = this.src[this.pos + 1];
    const simple: Record<string, number> = { n: 10, r: 13, t: 9, '\\': 92, '"': 34, ']': 93, '[': 91, '-': 45 };
    if (e !== undefined && e in simple) {
      this.pos += 2;
      return simple[e]!;
    }
    const digits = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    const hex = this.src.slice(this.pos + 2, this.pos + 2 + digits);
    if (digits === 0 || !new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) this.fail(`unknown escape \\${e ?? ''}`);
    const cp = parseInt(hex, 16);
    if (cp > 0x10ffff) this.fail(`\\${e}${hex} is past the last code point`);
    this.pos += 2 + digits;
    return cp;
  }

  literal(): Node {
    this.pos++;
    let text = '';
    while (this.src[this.pos] !== '"') {
      if (this.pos >= this.src.length || this.src[this.pos] === '\n') this.fail('unterminated string literal');
      text += String.fromCodePoint(this.char());
    }
    this.pos++;
    return { kind: 'literal', text };
  }

  charClass(): Node {
    this.pos++;
    const negated = this.src[this.pos] === '^';
    if (negated) this.pos++;
    const ranges: [number, number][] = [];
    while (this.src[this.pos] !== ']') {
      if (this.pos >= this.src.length) this.fail("unterminated character class (expected ']')");
      const lo = this.char();
      let hi = lo;
      if (this.src[this.pos] === '-' && this.src[this.pos + 1] !== ']' && this.pos + 1 < this.src.length) {
        this.pos++;
        hi = this.char();
        if (hi < lo) this.fail('a character range must run upwards');
      }
      ranges.push([lo, hi]);
    }
    this.pos++;
    if (ranges.length === 0 && !negated) this.fail('an empty character class matches nothing');
    return { kind: 'class', negated, ranges };
  }
}

/** A code point as a regex class member. */
function classChar(cp: number): string {
  if (cp < 0x20 || cp === 0x7f) return `\\u${cp.toString(16).padStart(4, '0')}`;
  const c = String.fromCodePoint(cp);
  return '\\]^-['.includes(c) ? `\\${c}` : c;
}

/** The regex whose matches are exactly the texts `root` derives (recursion unrolled GRAMMAR_RECURSION deep). */
export function grammarToRegex(grammar: string): string {
  const p = new Parser(grammar);
  const rules = p.rules();
  if (!rules.has('root')) throw new GrammarError("the grammar has no 'root' rule (where the text starts)");
  for (const { node } of rules.values()) {
    const check = (n: Node): void => {
      if (n.kind === 'ref' && !rules.has(n.name)) p.fail(`rule '${n.name}' is not defined`, n.at);
      if (n.kind === 'alt') n.options.forEach(check);
      if (n.kind === 'seq') n.items.forEach(check);
      if (n.kind === 'repeat') check(n.node);
    };
    check(node);
  }
  const stack: string[] = [];
  const write = (n: Node): string => {
    const out = writeNode(n);
    if (out.length > MAX_PATTERN_CHARS) throw new GrammarError(`written out, the grammar's rules make a pattern of more than ${MAX_PATTERN_CHARS} characters (rules referenced many times each, nested)`);
    return out;
  };
  const writeNode = (n: Node): string => {
    switch (n.kind) {
      case 'literal':
        return n.text === '' ? '(?:)' : `(?:${escapeRegex(n.text)})`;
      case 'any':
        return '[\\s\\S]';
      case 'class':
        return `[${n.negated ? '^' : ''}${n.ranges.map(([lo, hi]) => (lo === hi ? classChar(lo) : `${classChar(lo)}-${classChar(hi)}`)).join('')}]`;
      case 'seq':
        return n.items.length ? `(?:${n.items.map(write).join('')})` : '(?:)';
      case 'alt':
        return `(?:${n.options.map(write).join('|')})`;
      case 'repeat':
        return `(?:${write(n.node)})${n.max === null ? (n.min === 0 ? '*' : n.min === 1 ? '+' : `{${n.min},}`) : n.min === 0 && n.max === 1 ? '?' : `{${n.min},${n.max}}`}`;
      case 'ref': {
        if (stack.filter((x) => x === n.name).length >= GRAMMAR_RECURSION) return NEVER;
        stack.push(n.name);
        try {
          return write(rules.get(n.name)!.node);
        } finally {
          stack.pop();
        }
      }
    }
  };
  return write({ kind: 'ref', name: 'root', at: 0 });
}
