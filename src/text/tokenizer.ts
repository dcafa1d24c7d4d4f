/**
 * Tokenizer of a checkpoint directory: tokenizer.json + tokenizer_config.json through
 * @huggingface/tokenizers. Encodes with the model's own special-token rules, decodes with special
 * tokens skipped, and exposes the special tokens and the chat template.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/** Reads a JSON object from `path`; the error names the file. */
function readObject(path: string): any {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path} is not valid JSON (${(err as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${path} must hold a JSON object`);
  return v;
}

/** GPT-2's byte-level table inverted: the character each byte is written as -> the byte. */
const BYTE_OF_CHAR: Map<number, number> = (() => {
  const m = new Map<number, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    m.set(printable ? b : 256 + extra++, b);
  }
  return m;
})();

export class TextTokenizer {
  /** Ids of every special (added, special=true) token. */
  readonly specialIds: Set<number>;
  readonly bosToken?: string;
  readonly eosToken?: string;
  readonly bosTokenId?: number;
  readonly eosTokenId?: number;
  /** Jinja chat template from tokenizer_config.json, when present. */
  readonly chatTemplate?: string;
  /** Number of ids the tokenizer can produce (model vocab may be larger). */
  readonly size: number;
  private idToToken: Map<number, string>;
  /** The decoder maps bytes to characters as GPT-2's byte-level BPE does (its vocabulary strings are bytes in disguise). */
  private readonly byteLevel: boolean;

  constructor(
    private tok: Tokenizer,
    json: any,
    config: any,
  ) {
    const added: { id: number; content: string; special?: boolean }[] = json.added_tokens ?? [];
    this.specialIds = new Set(added.filter((a) => a.special).map((a) => a.id));
    this.idToToken = new Map();
    const vocab = json.model?.vocab;
    if (vocab && !Array.isArray(vocab)) for (const [t, id] of Object.entries(vocab as Record<string, number>)) this.idToToken.set(id, t);
    else if (Array.isArray(vocab)) vocab.forEach((e: [string, number], i: number) => this.idToToken.set(i, e[0]));
    for (const a of added) this.idToToken.set(a.id, a.content);
    this.size = Math.max(-1, ...this.idToToken.keys()) + 1;
    this.bosToken = tokenString(config.bos_token);
    this.eosToken = tokenString(config.eos_token);
    const idOf = (s?: string) => (s === undefined ? undefined : [...this.idToToken].find(([, t]) => t === s)?.[0]);
    this.bosTokenId = idOf(this.bosToken);
    this.eosTokenId = idOf(this.eosToken);
    this.chatTemplate = typeof config.chat_template === 'string' ? config.chat_template : undefined;
    const decoders = (d: any): any[] => (!d ? [] : d.type === 'Sequence' ? (d.decoders ?? []).flatMap(decoders) : [d]);
    this.byteLevel = decoders(json.decoder).some((d) => d.type === 'ByteLevel');
  }

  /**
   * The raw bytes a token stands for, where its vocabulary string says them: a byte-level BPE
   * token (GPT-2's byte-to-character table, inverted) or a byte-fallback piece `<0xNN>`; null for
   * special tokens and other vocabularies. Guided decoding needs them for tokens that are only part
   * of a UTF-8 character (their decoded text is U+FFFD).
   */
  tokenBytes(id: number): Uint8Array | null {
    const t = this.idToToken.get(id);
    if (t === undefined || this.specialIds.has(id)) return null;
    const fallback = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
    if (fallback) return Uint8Array.of(parseInt(fallback[1]!, 16));
    if (!this.byteLevel) return null;
    const out = new Uint8Array(t.length);
    for (let i = 0; i < t.length; i++) {
      const b = BYTE_OF_CHAR.get(t.charCodeAt(i));
      if (b === undefined) return null;
      out[i] = b;
    }
    return out;
  }

  /** Loads tokenizer.json and tokenizer_config.json from a model directory. */
  static load(dir: string): TextTokenizer {
    const jp = join(dir, 'tokenizer.json');
    if (!existsSync(jp)) throw new Error(`tokenizer.json not found in ${dir}`);
    const json = readObject(jp);
    const cp = join(dir, 'tokenizer_config.json');
    const config = existsSync(cp) ? readObject(cp) : {};
    try {
      return new TextTokenizer(new Tokenizer(json, config), json, config);
    } catch (err) {
      throw new Error(`cannot build the tokenizer from ${jp}: ${(err as Error).message}`);
    }
  }

  /** Text -> ids; with special tokens (e.g. BOS) added by the tokenizer's post-processor unless disabled. */
  encode(text: string, addSpecialTokens = true): number[] {
    return this.tok.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  /** Ids -> text, special tokens skipped (no ids: ''; the library refuses an empty list). */
  decode(ids: number[]): string {
    return ids.length ? this.tok.decode(ids, { skip_special_tokens: true }) : '';
  }

  /** Ids -> text with special tokens kept. */
  decodeWithSpecial(ids: number[]): string {
    return ids.length ? this.tok.decode(ids, { skip_special_tokens: false }) : '';
  }

  /** The token's own decoded text (for logprobs); special tokens give their literal content. */
  tokenText(id: number): string {
    if (this.specialIds.has(id)) return this.idToToken.get(id) ?? '';
    return this.tok.decode([id], { skip_special_tokens: false });
  }
}
