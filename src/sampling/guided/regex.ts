/**
 * A regular-expression engine for guided decoding: the pattern is parsed into a Thompson NFA over
 * UTF-16 code units, which a lazy DFA (dfa.ts) walks one unit at a time. Characters are code points,
 * as in Python's `re` and JavaScript's `u` mode: a character beyond the BMP (an emoji) is one atom
 * that a quantifier repeats whole, and `.`, classes and their negations take or refuse it whole (its
 * surrogate pair), never half of it. The whole output must
 * match (as Python's `re.fullmatch`, vLLM's and outlines' rule), so `^` and `$` at the ends are
 * accepted and ignored. Supported: literals and escapes (\d \w \s \D \W \S \n \t \r \f \v \uXXXX
 * \xXX and escaped punctuation), `.`, classes `[a-z_]` / `[^"\\]`, groups `( )` `(?: )` `(?<name> )`,
 * alternation `|`, quantifiers `* + ? {n} {n,} {n,m}` (a lazy `?` after one is accepted; it does
 * not change what matches). Backreferences, lookaround and anchors inside the pattern are refused.
 */

/** Inclusive code-unit ranges (in the NFA) or code-point ranges (while parsing), sorted and merged. */
export type CharRanges = [number, number][];

const MAX_CODE_POINT = 0x10ffff;

export interface NfaState {
  /** Consumes one character in `chars` (negated: any character not in them) and moves to `to`. */
  edge: { chars: CharRanges; negated: boolean; to: number } | null;
  /** Moves without consuming. */
  eps: number[];
}

export interface Nfa {
  states: NfaState[];
  start: number;
  accept: number;
}

/** A pattern the engine cannot take; the message says where and why. */
export class RegexError extends Error {}

/** States a pattern may expand to (bounded repeats copy their body). */
const MAX_STATES = 200_000;

type Frag = { start: number; end: number };

const DIGIT: CharRanges = [[48, 57]];
const WORD: CharRanges = [[48, 57], [65, 90], [95, 95], [97, 122]];
/** JavaScript's \s. */
const SPACE: CharRanges = [[9, 13], [32, 32], [0xa0, 0xa0], [0x1680, 0x1680], [0x2000, 0x200a], [0x2028, 0x2029], [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000], [0xfeff, 0xfeff]];

function merge(r: CharRanges): CharRanges {
  const s = [...r].sort((a, b) => a[0] - b[0]);
  const out: CharRanges = [];
  for (const [a, b] of s) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** The code points not in `r`. */
function complement(r: CharRanges): CharRanges {
  const out: CharRanges = [];
  let next = 0;
  for (const [a, b] of merge(r)) {
    if (a > next) out.push([next, a - 1]);
    next = b + 1;
  }
  if (next <= MAX_CODE_POINT) out.push([next, MAX_CODE_POINT]);
  return out;
}

/** `r` clipped to [lo, hi]. */
function clip(r: CharRanges, lo: number, hi: number): CharRanges {
  return r.filter(([a, b]) => b >= lo && a <= hi).map(([a, b]) => [Math.max(a, lo), Math.min(b, hi)] as [number, number]);
}

const high = (c: number) => 0xd800 + ((c - 0x10000) >> 10);
const low = (c: number) => 0xdc00 + ((c - 0x10000) & 0x3ff);

/** The surrogate pairs of the astral code points a..b: [high units, low units] pairs whose product is exactly them. */
function surrogatePairs(a: number, b: number): [CharRanges, CharRanges][] {
  const [ha, la, hb, lb] = [high(a), low(a), high(b), low(b)];
  if (ha === hb) return [[[[ha, ha]], [[la, lb]]]];
  const out: [CharRanges, CharRanges][] = [[[[ha, ha]], [[la, 0xdfff]]]];
  if (hb - ha > 1) out.push([[[ha + 1, hb - 1]], [[0xdc00, 0xdfff]]]);
  out.push([[[hb, hb]], [[0xdc00, lb]]]);
  return out;
}

/** True when code unit `c` is in the edge's set. */
export function edgeMatches(edge: { chars: CharRanges; negated: boolean }, c: number): boolean {
  let inside = false;
  for (const [a, b] of edge.chars) {
    if (c < a) break;
    if (c <= b) {
      inside = true;
      break;
    }
  }
  return inside !== edge.negated;
}

class Parser {
  private i = 0;

  constructor(
    private readonly src: string,
    readonly states: NfaState[] = [],
  ) {}

  /** The whole pattern as one fragment (after the caller stripped the ^ and $ ends). */
  whole(): Frag {
    const f = this.alternation();
    if (this.i < this.src.length) throw this.error(this.src[this.i] === ')' ? 'unbalanced )' : `unexpected '${this.src[this.i]}'`);
    return f;
  }

  private error(msg: string): RegexError {
    return new RegexError(`${msg} at position ${this.i} of the pattern`);
  }

  state(edge: NfaState['edge'] = null): number {
    if (this.states.length >= MAX_STATES) throw new RegexError(`the pattern is too large (more than ${MAX_STATES} states once its repeats are expanded)`);
    this.states.push({ edge, eps: [] });
    return this.states.length - 1;
  }

  link(a: number, b: number): void {
    this.states[a]!.eps.push(b);
  }

  private empty(): Frag {
    const s = this.state();
    return { start: s, end: s };
  }

  private alternation(): Frag {
    const branches = [this.sequence()];
    while (this.src[this.i] === '|') {
      this.i++;
      branches.push(this.sequence());
    }
    if (branches.length === 1) return branches[0]!;
    const start = this.state();
    const end = this.state();
    for (const b of branches) {
      this.link(start, b.start);
      this.link(b.end, end);
    }
    return { start, end };
  }

  private sequence(): Frag {
    let f: Frag | null = null;
    while (this.i < this.src.length && this.src[this.i] !== '|' && this.src[this.i] !== ')') {
      const a = this.quantified();
      if (f) this.link(f.end, a.start);
      f = f ? { start: f.start, end: a.end } : a;
    }
    return f ?? this.empty();
  }

  /** An atom and its quantifier, if any; a bounded repeat copies the atom's states for each copy. */
  private quantified(): Frag {
    // The atom's states are the ones made while it is parsed, in a row, linked only among themselves.
    const first = this.states.length;
    const f = this.atom();
    const atom = { first, last: this.states.length };
    const c = this.src[this.i];
    let min: number;
    let max: number;
    if (c === '*') [min, max] = [0, Infinity];
    else if (c === '+') [min, max] = [1, Infinity];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
      if (!m) return f; // a literal '{' follows (as JavaScript's non-unicode mode reads it)
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      if (max < min) throw this.error(`repeat {${min},${max}} has its maximum below its minimum`);
      this.i += m[0].length - 1;
    } else return f;
    this.i++;
    if (this.src[this.i] === '?') this.i++; // lazy: the same language
    const next = this.src[this.i];
    if (next === '*' || next === '+' || next === '?' || (next === '{' && /^\{\d+(,\d*)?\}/.test(this.src.slice(this.i)))) {
      throw this.error('nothing to repeat (a quantifier follows a quantifier; group the first, as in (?:x{2}){3})');
    }
    return this.repeat(f, min, max, atom);
  }

  /** A copy of fragment `f`, whose states are `atom.first` up to `atom.last` (their character sets shared). */
  private copy(f: Frag, atom: { first: number; last: number }): Frag {
    const delta = this.states.length - atom.first;
    if (this.states.length + (atom.last - atom.first) > MAX_STATES) throw new RegexError(`the pattern is too large (more than ${MAX_STATES} states once its repeats are expanded)`);
    for (let s = atom.first; s < atom.last; s++) {
      const { edge, eps } = this.states[s]!;
      this.states.push({ edge: edge && { chars: edge.chars, negated: edge.negated, to: edge.to + delta }, eps: eps.map((t) => t + delta) });
    }
    return { start: f.start + delta, end: f.end + delta };
  }

  private repeat(f: Frag, min: number, max: number, atom: { first: number; last: number }): Frag {
    if (min === 0 && max === Infinity) {
      const hub = this.state();
      this.link(hub, f.start);
      this.link(f.end, hub);
      return { start: hub, end: hub };
    }
    if (max === 0) return this.empty();
    const count = max === Infinity ? min : max;
    if (count > 1000) throw this.error(`repeat count ${count} is above 1000`);
    const parts: Frag[] = [f];
    for (let k = 1; k < count; k++) parts.push(this.copy(f, atom));
    const end = this.state();
    for (let k = 0; k + 1 < parts.length; k++) this.link(parts[k]!.end, parts[k + 1]!.start);
    const last = parts[parts.length - 1]!;
    this.link(last.end, end);
    if (max === Infinity) this.link(last.end, last.start); // x{2,}: x then x+
    // Copies from the min-th on are optional: skipping one skips those after it.
    for (let k = min; k < parts.length; k++) this.link(parts[k]!.start, end);
    return { start: parts[0]!.start, end };
  }

  /**
   * One character among the code points `chars` (negated: any code point not among them): an edge
   * for its BMP part (surrogates excluded) and a surrogate pair of edges per astral run.
   */
  private charFrag(chars: CharRanges, negated = false): Frag {
    const set = negated ? complement(chars) : merge(chars);
    const bmp = [...clip(set, 0, 0xd7ff), ...clip(set, 0xe000, 0xffff)];
    const end = this.state();
    const start = this.state(bmp.length ? { chars: bmp, negated: false, to: end } : null);
    for (const [a, b] of clip(set, 0x10000, MAX_CODE_POINT)) {
      for (const [hi, lo] of surrogatePairs(a, b)) {
        const second = this.state({ chars: lo, negated: false, to: end });
        const first = this.state({ chars: hi, negated: false, to: second });
        this.link(start, first);
      }
    }
    return { start, end };
  }

  /** The code point at the parse position (a surrogate pair is one), and moves past it. */
  private codePoint(): number {
    const code = this.src.codePointAt(this.i)!;
    this.i += code > 0xffff ? 2 : 1;
    return code;
  }

  private atom(): Frag {
    const c = this.src[this.i];
    if (c === undefined) throw this.error('pattern ends early');
    if (c === '(') {
      this.i++;
      if (this.src[this.i] === '?') {
        const rest = this.src.slice(this.i);
        if (rest.startsWith('?:')) this.i += 2;
        else if (/^\?<[A-Za-z_][A-Za-z0-9_]*>/.test(rest)) this.i = this.src.indexOf('>', this.i) + 1;
        else throw this.error('lookaround and other (? groups are not supported');
      }
      const f = this.alternation();
      if (this.src[this.i] !== ')') throw this.error('missing )');
      this.i++;
      return f;
    }
    if (c === '[') return this.charClass();
    if (c === '.') {
      this.i++;
      return this.charFrag([[10, 10], [13, 13], [0x2028, 0x2029]], true);
    }
    if (c === '\\') return this.escape(false) as Frag;
    if (c === '*' || c === '+' || c === '?') throw this.error(`nothing to repeat before '${c}'`);
    if (c === '^' || c === '$') throw this.error(`anchor '${c}' inside the pattern is not supported (the whole output is matched)`);
    const code = this.codePoint();
    return this.charFrag([[code, code]]);
  }

  /** An escape; in a class (`inClass`) returns its ranges, outside a fragment. */
  private escape(inClass: boolean): Frag | { chars: CharRanges; negated: boolean } {
    this.i++;
    const c = this.src[this.i];
    if (c === undefined) throw this.error('pattern ends after \\');
    this.i++;
    const out = (chars: CharRanges, negated = false) => (inClass ? { chars, negated } : this.charFrag(chars, negated));
    const one = (code: number) => out([[code, code]]);
    switch (c) {
      case 'd':
        return out(DIGIT);
      case 'D':
        return out(DIGIT, true);
      case 'w':
        return out(WORD);
      case 'W':
        return out(WORD, true);
      case 's':
        return out(SPACE);
      case 'S':
        return out(SPACE, true);
      case 'n':
        return one(10);
      case 't':
        return one(9);
      case 'r':
        return one(13);
      case 'f':
        return one(12);
      case 'v':
        return one(11);
      case '0':
        return one(0);
      case 'b':
        if (inClass) return one(8);
        throw this.error('word boundaries (\\b) are not supported');
      case 'B':
        throw this.error('word boundaries (\\B) are not supported');
      case 'x':
      case 'u': {
        const n = c === 'x' ? 2 : 4;
        const hex = this.src.slice(this.i, this.i + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) throw this.error(`\\${c} needs ${n} hex digits`);
        this.i += n;
        let code = parseInt(hex, 16);
        // \uD83D\uDE00: a surrogate pair written as two escapes is its one character.
        const next = /^\\u([dD][c-fC-F][0-9a-fA-F]{2})/.exec(this.src.slice(this.i));
        if (c === 'u' && code >= 0xd800 && code <= 0xdbff && next) {
          code = 0x10000 + ((code - 0xd800) << 10) + (parseInt(next[1]!, 16) - 0xdc00);
          this.i += 6;
        }
        return one(code);
      }
      default:
        if (/[1-9]/.test(c)) throw this.error('backreferences are not supported');
        if (/[A-Za-z]/.test(c)) throw this.error(`unknown escape \\${c}`);
        this.i--;
        return one(this.codePoint());
    }
  }

  private charClass(): Frag {
    this.i++;
    let negated = false;
    if (this.src[this.i] === '^') {
      negated = true;
      this.i++;
    }
    const ranges: CharRanges = [];
    let first = true;
    const single = (): number | CharRanges => {
      if (this.src[this.i] === '\\') {
        const e = this.escape(true) as { chars: CharRanges; negated: boolean };
        if (e.chars.length === 1 && e.chars[0]![0] === e.chars[0]![1] && !e.negated) return e.chars[0]![0];
        return e.negated ? complement(e.chars) : e.chars;
      }
      return this.codePoint();
    };
    while (this.i < this.src.length && (this.src[this.i] !== ']' || first)) {
      first = false;
      const lo = single();
      if (typeof lo !== 'number') {
        ranges.push(...lo);
        continue;
      }
      if (this.src[this.i] === '-' && this.src[this.i + 1] !== undefined && this.src[this.i + 1] !== ']') {
        this.i++;
        const hi = single();
        if (typeof hi !== 'number') throw this.error('a class range cannot end in a class escape');
        if (hi < lo) throw this.error('class range out of order');
        ranges.push([lo, hi]);
      } else ranges.push([lo, lo]);
    }
    if (this.src[this.i] !== ']') throw this.error('missing ]');
    this.i++;
    return this.charFrag(ranges, negated);
  }
}

function isEscaped(s: string, at: number): boolean {
  let n = 0;
  for (let j = at - 1; j >= 0 && s[j] === '\\'; j--) n++;
  return n % 2 === 1;
}

/** Compiles `pattern` (full match); throws RegexError saying what is wrong. */
export function compileRegex(pattern: string): Nfa {
  let from = 0;
  let to = pattern.length;
  if (pattern.startsWith('^')) from = 1;
  if (to > from && pattern.endsWith('$') && !isEscaped(pattern, to - 1)) to--;
  const p = new Parser(pattern.slice(from, to));
  const f = p.whole();
  const accept = p.state();
  p.link(f.end, accept);
  return { states: p.states, start: f.start, accept };
}

/** True when some text reaches the NFA's accept state (a walk over its non-empty edges). */
export function matchesSomething(nfa: Nfa): boolean {
  const seen = new Set([nfa.start]);
  const todo = [nfa.start];
  while (todo.length) {
    const s = todo.pop()!;
    if (s === nfa.accept) return true;
    const st = nfa.states[s]!;
    const next = [...st.eps, ...(st.edge && (st.edge.negated || st.edge.chars.length) ? [st.edge.to] : [])];
    for (const t of next) if (!seen.has(t)) (seen.add(t), todo.push(t));
  }
  return false;
}

/** Escapes `text` so it matches literally. */
export function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}
