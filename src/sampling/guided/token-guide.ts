/**
 * Guided decoding at the token level: which tokens may come next so that the output can still
 * match the guide's regex (outlines' and vLLM's rule: the whole output must match). The
 * vocabulary's token texts sit in a trie; from a DFA state the trie is walked character by
 * character and every token whose text keeps the DFA alive is allowed. Allowed sets are memoised
 * per DFA state. End-of-sequence tokens are allowed only where the text so far is a full match,
 * and are the only choice where nothing can follow it.
 */
import { compileRegex } from './regex.ts';
import { DEAD, LazyDfa, type DState } from './dfa.ts';

interface TrieNode {
  children: Map<number, TrieNode>;
  /** Tokens whose text ends here. */
  tokens: number[];
}

/** A model's vocabulary as text: one entry per token id (null: the token never fits a guide). */
export class TokenTexts {
  readonly root: TrieNode = { children: new Map(), tokens: [] };

  constructor(
    readonly texts: readonly (string | null)[],
    readonly eosTokenIds: readonly number[],
  ) {
    texts.forEach((t, id) => {
      if (!t) return;
      let node = this.root;
      for (let i = 0; i < t.length; i++) {
        const c = t.charCodeAt(i);
        let next = node.children.get(c);
        if (!next) node.children.set(c, (next = { children: new Map(), tokens: [] }));
        node = next;
      }
      node.tokens.push(id);
    });
  }
}

/** Allowed sets kept per guide (one bit per token each: 6 KiB for a 49k vocabulary). */
const MAX_MEMO = 512;

/** One compiled guide over one vocabulary (shared by every sequence that uses the same pattern). */
export class TokenGuide {
  private readonly dfa: LazyDfa;
  /** Per DFA state, the allowed tokens as a bitmap (bit t of byte t >> 3). */
  private readonly memo = new Map<DState, Uint8Array>();
  /** After a dead end (a token that left no match, which the mask never allows): only end of sequence. */
  private readonly deadEnd: Uint8Array;

  constructor(
    pattern: string,
    private readonly vocab: TokenTexts,
  ) {
    this.dfa = new LazyDfa(compileRegex(pattern));
    this.deadEnd = new Uint8Array((vocab.texts.length + 7) >> 3);
    for (const t of vocab.eosTokenIds) if (t < vocab.texts.length) this.deadEnd[t >> 3]! |= 1 << (t & 7);
  }

  /** The state before any output. */
  get start(): DState {
    return this.dfa.start;
  }

  /** The state after `token` from `d` (end-of-sequence and unknown tokens: DEAD). */
  advance(d: DState | null, token: number): DState | null {
    const t = this.vocab.texts[token];
    return t ? this.dfa.walk(d, t) : DEAD;
  }

  /** The state after `text` from `d` (benchmarks and tests step through text, not tokens). */
  walk(d: DState | null, text: string): DState | null {
    return this.dfa.walk(d, text);
  }

  /** True when the output so far is a full match. */
  complete(d: DState | null): boolean {
    return this.dfa.accepting(d);
  }

  /** Tokens allowed from state `d`, in id order. */
  allowed(d: DState | null): Int32Array {
    const bits = this.bitmap(d);
    const out: number[] = [];
    for (let t = 0; t < bits.length * 8; t++) if (bits[t >> 3]! & (1 << (t & 7))) out.push(t);
    return Int32Array.from(out);
  }

  /**
   * Pushes every token the guide does not allow at `d` far below the allowed ones, in place: to
   * the best allowed logit minus 10^4 (probability exp(-10^4 / T), zero in float64 at any
   * temperature; finite, so the sampler's ranking bins stay narrow).
   */
  maskInPlace(d: DState | null, logits: Float32Array): Float32Array {
    const bits = this.bitmap(d);
    const n = Math.min(logits.length, bits.length * 8);
    let best = -Infinity;
    for (let t = 0; t < n; t++) if (bits[t >> 3]! !== 0 && bits[t >> 3]! & (1 << (t & 7)) && logits[t]! > best) best = logits[t]!;
    const floor = best - 1e4;
    for (let t = 0; t < logits.length; t++) {
      const byte = t < n ? bits[t >> 3]! : 0;
      if (byte === 255) t += 7 - (t & 7);
      else if (!(byte & (1 << (t & 7)))) logits[t] = floor;
    }
    return logits;
  }

  private bitmap(d: DState | null): Uint8Array {
    if (d === DEAD) return this.deadEnd;
    const known = this.memo.get(d);
    if (known) return known;
    const bits = new Uint8Array((this.vocab.texts.length + 7) >> 3);
    const set = (t: number) => (bits[t >> 3]! |= 1 << (t & 7));
    let any = false;
    const walk = (node: TrieNode, s: DState) => {
      for (const [c, child] of node.children) {
        const next = this.dfa.step(s, c);
        if (next === DEAD) continue;
        for (const t of child.tokens) (set(t), (any = true));
        walk(child, next);
      }
    };
    walk(this.vocab.root, d);
    // End of sequence where the output is complete, or where nothing else fits (a dead end ends it).
    if (this.dfa.accepting(d) || !any) for (const t of this.vocab.eosTokenIds) if (t < bits.length * 8) set(t);
    if (this.memo.size >= MAX_MEMO) this.memo.delete(this.memo.keys().next().value!);
    this.memo.set(d, bits);
    return bits;
  }
}

/** Guides by pattern over one vocabulary (sequences asking for the same pattern share its DFA). */
export class GuideCache {
  private readonly guides = new Map<string, TokenGuide>();

  constructor(private readonly vocab: () => TokenTexts) {}

  get(pattern: string): TokenGuide {
    let g = this.guides.get(pattern);
    if (!g) {
      g = new TokenGuide(pattern, this.vocab());
      if (this.guides.size >= 16) this.guides.delete(this.guides.keys().next().value!);
      this.guides.set(pattern, g);
    }
    return g;
  }
}
