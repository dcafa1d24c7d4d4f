/**
 * A lazy DFA over a regex's NFA (regex.ts): each DFA state is the epsilon-closed set of NFA states
 * reachable so far, built the first time a character leads to it and kept, so walking the same
 * text again costs a map lookup per character. State -1 is dead (no continuation matches).
 */
import { edgeMatches, type Nfa } from './regex.ts';

interface DState {
  nfa: Int32Array;
  accepting: boolean;
  /** Transitions by code unit: next DFA state (-1 dead). */
  next: Map<number, number>;
}

export const DEAD = -1;

export class LazyDfa {
  private readonly states: DState[] = [];
  private readonly byKey = new Map<string, number>();
  /** The state before any character. */
  readonly start: number;

  constructor(private readonly nfa: Nfa) {
    this.start = this.intern(this.closure([nfa.start]));
  }

  /** True when the text walked so far is a full match. */
  accepting(d: number): boolean {
    return d !== DEAD && this.states[d]!.accepting;
  }

  /** True when some non-empty continuation can still match from `d`. */
  canContinue(d: number): boolean {
    if (d === DEAD) return false;
    for (const s of this.states[d]!.nfa) if (this.nfa.states[s]!.edge) return true;
    return false;
  }

  /** The state after code unit `c` from `d`. */
  step(d: number, c: number): number {
    if (d === DEAD) return DEAD;
    const st = this.states[d]!;
    const known = st.next.get(c);
    if (known !== undefined) return known;
    const moved: number[] = [];
    for (const s of st.nfa) {
      const e = this.nfa.states[s]!.edge;
      if (e && edgeMatches(e, c)) moved.push(e.to);
    }
    const next = moved.length ? this.intern(this.closure(moved)) : DEAD;
    st.next.set(c, next);
    return next;
  }

  /** The state after `text` from `d` (DEAD once a character fails). */
  walk(d: number, text: string): number {
    for (let i = 0; i < text.length && d !== DEAD; i++) d = this.step(d, text.charCodeAt(i));
    return d;
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

  private intern(set: Int32Array): number {
    const key = set.join(',');
    const known = this.byKey.get(key);
    if (known !== undefined) return known;
    this.states.push({ nfa: set, accepting: set.includes(this.nfa.accept), next: new Map() });
    this.byKey.set(key, this.states.length - 1);
    return this.states.length - 1;
  }
}
