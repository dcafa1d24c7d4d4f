/**
 * Guided decoding at the token level: which tokens may come next so that the output can still
 * match the guide's regex (outlines' and vLLM's rule: the whole output must match). The
 * vocabulary's whole-text tokens sit in a trie; from a DFA state the trie is walked character by
 * character and every token whose text keeps the DFA alive is allowed. Tokens that are only part of
 * a UTF-8 character (byte pieces) are checked byte by byte: the bytes not yet forming a character
 * wait in the guide's state, and a piece is allowed while some character it can still become may
 * follow. Allowed sets are memoised per state. End-of-sequence tokens are allowed only where the
 * text so far is a full match (no bytes waiting), and are the only choice where nothing can follow.
 */
import { compileRegex } from './regex.ts';
import { DEAD, LazyDfa, type DState } from './dfa.ts';
import { codePointRange, utf8Split } from './utf8.ts';

interface TrieNode {
  children: Map<number, TrieNode>;
  /** Tokens whose text ends here. */
  tokens: number[];
}

/** A model's vocabulary as text: one entry per token id (null: not whole text), and the byte pieces' bytes. */
export class TokenTexts {
  readonly root: TrieNode = { children: new Map(), tokens: [] };

  constructor(
    readonly texts: readonly (string | null)[],
    readonly eosTokenIds: readonly number[],
    /** Tokens that are only part of a character, by id: the bytes they stand for. */
    readonly pieces: ReadonlyMap<number, Uint8Array> = new Map(),
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

/** Where a guided output stands: the DFA state after its characters, and the bytes of a character not yet complete. */
export interface GuideState {
  d: DState | null;
  /** Bytes waiting for the rest of their character (empty almost always). */
  pending: readonly number[];
}

/** Allowed sets kept per guide (one bit per token each: 6 KiB for a 49k vocabulary). */
const MAX_MEMO = 512;

/** One compiled guide over one vocabulary (shared by every sequence that uses the same pattern). */
export class TokenGuide {
  private readonly dfa: LazyDfa;
  /** Per DFA state and waiting bytes, the allowed tokens as a bitmap (bit t of byte t >> 3). */
  private readonly memo = new Map<DState, Map<string, Uint8Array>>();
  private memoSize = 0;
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
  get start(): GuideState {
    return { d: this.dfa.start, pending: [] };
  }

  /** The state after `token` (end of sequence and tokens that do not fit: dead). */
  advance(s: GuideState, token: number): GuideState {
    const t = this.vocab.texts[token];
    if (t && s.pending.length === 0) return { d: this.dfa.walk(s.d, t), pending: [] };
    const bytes = this.vocab.pieces.get(token);
    return (bytes && this.afterBytes(s, bytes)) || { d: DEAD, pending: [] };
  }

  /** The state after `text` (benchmarks and tests step through text, not tokens). */
  walk(s: GuideState, text: string): GuideState {
    return s.pending.length ? { d: DEAD, pending: [] } : { d: this.dfa.walk(s.d, text), pending: [] };
  }

  /** True when the output so far is a full match. */
  complete(s: GuideState): boolean {
    return s.pending.length === 0 && this.dfa.accepting(s.d);
  }

  /** Tokens allowed from `s`, in id order. */
  allowed(s: GuideState): Int32Array {
    const bits = this.bitmap(s);
    const out: number[] = [];
    for (let t = 0; t < bits.length * 8; t++) if (bits[t >> 3]! & (1 << (t & 7))) out.push(t);
    return Int32Array.from(out);
  }

  /**
   * Pushes every token the guide does not allow at `s` far below the allowed ones, in place: to
   * the best allowed logit minus 10^4 (probability exp(-10^4 / T), zero in float64 at any
   * temperature; finite, so the sampler's ranking bins stay narrow).
   */
  maskInPlace(s: GuideState, logits: Float32Array): Float32Array {
    const bits = this.bitmap(s);
    const n = Math.min(logits.length, bits.length * 8);
    let best = -Infinity;
    for (let t = 0; t < n; t++) if (bits[t >> 3]! & (1 << (t & 7)) && logits[t]! > best) best = logits[t]!;
    const floor = best - 1e4;
    for (let t = 0; t < logits.length; t++) {
      const byte = t < n ? bits[t >> 3]! : 0;
      if (byte === 255) t += 7 - (t & 7);
      else if (!(byte & (1 << (t & 7)))) logits[t] = floor;
    }
    return logits;
  }

  /** The state after a piece's bytes, or null when they break UTF-8 or lead where no character may follow. */
  private afterBytes(s: GuideState, bytes: Uint8Array): GuideState | null {
    const split = utf8Split([...s.pending, ...bytes]);
    if (!split) return null;
    const d = this.dfa.walk(s.d, split.text);
    if (d === DEAD) return null;
    if (split.tail.length) {
      const ranges = codePointRange(split.tail);
      if (!ranges || !ranges.some(([lo, hi]) => this.admitsCodePoints(d, lo, hi))) return null;
    }
    return { d, pending: split.tail };
  }

  /** True when some character with a code point in lo..hi may follow from `d` (beyond the BMP: its surrogate pair). */
  private admitsCodePoints(d: DState, lo: number, hi: number): boolean {
    if (hi < 0x10000) return this.dfa.admitsSome(d, lo, hi);
    for (let h = (lo - 0x10000) >> 10; h <= (hi - 0x10000) >> 10; h++) {
      const afterHigh = this.dfa.step(d, 0xd800 + h);
      if (afterHigh === DEAD) continue;
      const from = Math.max(lo, 0x10000 + (h << 10));
      const to = Math.min(hi, 0x10000 + (h << 10) + 0x3ff);
      if (this.dfa.admitsSome(afterHigh, 0xdc00 + ((from - 0x10000) & 0x3ff), 0xdc00 + ((to - 0x10000) & 0x3ff))) return true;
    }
    return false;
  }

  private bitmap(s: GuideState): Uint8Array {
    const d = s.d;
    if (d === DEAD) return this.deadEnd;
    const key = s.pending.join(',');
    const byPending = this.memo.get(d);
    const known = byPending?.get(key);
    if (known) return known;
    const bits = new Uint8Array((this.vocab.texts.length + 7) >> 3);
    const set = (t: number) => (bits[t >> 3]! |= 1 << (t & 7));
    let any = false;
    if (s.pending.length === 0) {
      const walk = (node: TrieNode, at: DState) => {
        for (const [c, child] of node.children) {
          const next = this.dfa.step(at, c);
          if (next === DEAD) continue;
          for (const t of child.tokens) (set(t), (any = true));
          walk(child, next);
        }
      };
      walk(this.vocab.root, d);
    }
    for (const [t, bytes] of this.vocab.pieces) if (this.afterBytes(s, bytes)) (set(t), (any = true));
    // End of sequence where the output is complete, or where nothing else fits (a dead end ends it).
    if (this.complete(s) || !any) for (const t of this.vocab.eosTokenIds) if (t < bits.length * 8) set(t);
    if (this.memoSize >= MAX_MEMO) {
      this.memo.clear();
      this.memoSize = 0;
    }
    if (!this.memo.has(d)) this.memo.set(d, new Map());
    this.memo.get(d)!.set(key, bits);
    this.memoSize++;
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
