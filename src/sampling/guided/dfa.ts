/**
 * A lazy DFA over a regex's NFA (regex.ts): each DFA state is the epsilon-closed set of NFA states
 * reachable so far, built the first time a character leads to it and kept, so walking the same
 * text again costs a map lookup per character. `DEAD` (null) means no continuation matches.
 *
 * The kept states are bounded: a pattern whose DFA would be huge (as `(a|b)*a(a|b){20}`) makes the
 * cache start over once it holds `MAX_STATES`. States are objects, so those a sequence or a walk
 * still holds stay valid after a reset (their transitions are simply computed again).
 */
import { edgeMatches, type CharRanges, type Nfa } from './regex.ts';

/** True when the edge's set holds some code unit in lo..hi. */
function intersects(edge: { chars: CharRanges; negated: boolean }, lo: number, hi: number): boolean {
  if (!edge.negated) return edge.chars.some(([a, b]) => a <= hi && b >= lo);
  // Negated: some unit of lo..hi lies outside every range.
  let next = lo;
  for (const [a, b] of edge.chars) {
    if (b < next) continue;
    if (a > next) return true;
    next = b + 1;
    if (next > hi) return false;
  }
  return next <= hi;
}

export interface DState {
  readonly nfa: Int32Array;
  readonly accepting: boolean;
  /** Transitions by code unit (null: dead). */
  readonly next: Map<number, DState | null>;
}

export const DEAD = null;

/** States kept before the cache starts over. */
const MAX_STATES = 20_000;

export class LazyDfa {
  private readonly byKey = new Map<string, DState>();
  /** The state before any character. */
  readonly start: DState;

  constructor(private readonly nfa: Nfa) {
    this.start = this.intern(this.closure([nfa.start]));
  }

  /** True when the text walked so far is a full match. */
  accepting(d: DState | null): boolean {
    return d !== DEAD && d.accepting;
  }

  /** The state after code unit `c` from `d`. */
  step(d: DState | null, c: number): DState | null {
    if (d === DEAD) return DEAD;
    const known = d.next.get(c);
    if (known !== undefined) return known;
    const moved: number[] = [];
    for (const s of d.nfa) {
      const e = this.nfa.states[s]!.edge;
      if (e && edgeMatches(e, c)) moved.push(e.to);
    }
    const next = moved.length ? this.intern(this.closure(moved)) : DEAD;
    d.next.set(c, next);
    return next;
  }

  /** The state after `text` from `d` (DEAD once a character fails). */
  walk(d: DState | null, text: string): DState | null {
    for (let i = 0; i < text.length && d !== DEAD; i++) d = this.step(d, text.charCodeAt(i));
    return d;
  }

  /** True when some character in code units lo..hi can follow from `d` (the first unit of a character still being spelled byte by byte). */
  admitsSome(d: DState | null, lo: number, hi: number): boolean {
    if (d === DEAD) return false;
    for (const s of d.nfa) {
      const e = this.nfa.states[s]!.edge;
      if (e && intersects(e, lo, hi)) return true;
    }
    return false;
  }

  /** States kept now (for tests). */
  size(): number {
    return this.byKey.size;
  }

  private closure(from: number[]): Int32Array {
    const seen = new Set<number>();
    const stack = [...from];
    while (stack.length) {
      const s = stack.pop()!;
      if (seen.has(s)) continue;
      seen.add(s);
      for (const t of this.nfa.states[s]!.eps) if (!seen.has(t)) stack.push(t);
    }
    // Only states with an edge or the accept state matter for what follows.
    const kept = [...seen].filter((s) => s === this.nfa.accept || this.nfa.states[s]!.edge);
    return Int32Array.from(kept.sort((a, b) => a - b));
  }

  private intern(set: Int32Array): DState {
    const key = set.join(',');
    const known = this.byKey.get(key);
    if (known) return known;
    if (this.byKey.size >= MAX_STATES) {
      // Start over: forget every transition (held states recompute theirs), keep the start.
      for (const s of this.byKey.values()) s.next.clear();
      this.byKey.clear();
      if (this.start) this.byKey.set(this.start.nfa.join(','), this.start);
    }
    const d: DState = { nfa: set, accepting: set.includes(this.nfa.accept), next: new Map() };
    this.byKey.set(key, d);
    return d;
  }
}
