/**
 * Guided decoding at the token level: which tokens may come next so that the output can still
 * match the guide's regex (outlines' and vLLM's rule: the whole output must match). The
 * vocabulary's token texts sit in a trie; from a DFA state the trie is walked character by
 * character and every token whose text keeps the DFA alive is allowed. Allowed sets are memoised
 * per DFA state. End-of-sequence tokens are allowed only where the text so far is a full match,
 * and are the only choice where nothing can follow it.
 */
import { compileRegex } from './regex.ts';
import { DEAD, LazyDfa } from './dfa.ts';

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

/** Memoised allowed sets kept per guide. */
const MAX_MEMO = 512;

/** One compiled guide over one vocabulary (shared by every sequence that uses the same pattern). */
export class TokenGuide {
  private readonly dfa: LazyDfa;
  private readonly memo = new Map<number, Int32Array>();

  constructor(
    pattern: string,
    private readonly vocab: TokenTexts,
  ) {
    this.dfa = new LazyDfa(compileRegex(pattern));
  }

  /** The state before any output. */
  get start(): number {
    return this.dfa.start;
  }

  /** The state after `token` from `d` (end-of-sequence and unknown tokens: DEAD). */
  advance(d: number, token: number): number {
    const t = this.vocab.texts[token];
    return t ? this.dfa.walk(d, t) : DEAD;
  }

  /** Tokens allowed from state `d`, in id order. */
  allowed(d: number): Int32Array {
    const known = this.memo.get(d);
    if (known) return known;
    const out: number[] = [];
    if (d !== DEAD) {
      const walk = (node: TrieNode, s: number) => {
        for (const [c, child] of node.children) {
          const next = this.dfa.step(s, c);
          if (next === DEAD) continue;
          for (const t of child.tokens) out.push(t);
          walk(child, next);
        }
      };
      walk(this.vocab.root, d);
    }
    // End of sequence where the output is complete, or where nothing else fits (a dead end ends it).
    if (this.dfa.accepting(d) || out.length === 0) out.push(...this.vocab.eosTokenIds);
    const set = Int32Array.from(new Set(out)).sort();
    if (this.memo.size >= MAX_MEMO) this.memo.delete(this.memo.keys().next().value!);
    this.memo.set(d, set);
    return set;
  }

  /** True when the output so far is a full match. */
  complete(d: number): boolean {
    return this.dfa.accepting(d);
  }

  /**
   * Pushes every token the guide does not allow at `d` far below the allowed ones, in place: to
   * the best allowed logit minus 10^4 (probability exp(-10^4 / T), zero in float64 at any
   * temperature; finite, so the sampler's ranking bins stay narrow).
   */
  maskInPlace(d: number, logits: Float32Array): Float32Array {
    const allowed = this.allowed(d);
    let best = -Infinity;
    for (const t of allowed) if (t < logits.length && logits[t]! > best) best = logits[t]!;
    const floor = best - 1e4;
    let j = 0;
    for (let i = 0; i < logits.length; i++) {
      if (j < allowed.length && allowed[j] === i) j++;
      else logits[i] = floor;
    }
    return logits;
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
      if (this.guides.size >= 64) this.guides.delete(this.guides.keys().next().value!);
      this.guides.set(pattern, g);
    }
    return g;
  }
}
