/**
 * The text each token adds to an output, for guided decoding: decoded after an anchor token and
 * taken as the difference, so a SentencePiece token keeps its leading space (decoded alone, `▁the`
 * reads `the`). Special tokens and tokens that decode to nothing get null; tokens that are only part
 * of a character (their text holds U+FFFD) are byte pieces, kept with the bytes the tokenizer says
 * they stand for (a guide spells characters from them byte by byte), or never picked where it does
 * not say.
 */
import type { TextTokenizer } from '../../text/tokenizer.ts';
import { TokenTexts } from './token-guide.ts';

export function vocabTexts(tokenizer: TextTokenizer, vocabSize: number, eosTokenIds: readonly number[]): TokenTexts {
  const anchor = tokenizer.encode('a', false);
  const base = tokenizer.decode(anchor);
  const texts: (string | null)[] = new Array(vocabSize).fill(null);
  const pieces = new Map<number, Uint8Array>();
  const n = Math.min(vocabSize, tokenizer.size);
  for (let id = 0; id < n; id++) {
    if (tokenizer.specialIds.has(id)) continue;
    const t = tokenizer.decode([...anchor, id]);
    if (!t.startsWith(base)) continue;
    const text = t.slice(base.length);
    if (!text) continue;
    if (!text.includes('\uFFFD')) texts[id] = text;
    else {
      const bytes = tokenizer.tokenBytes(id);
      if (bytes?.length) pieces.set(id, bytes);
    }
  }
  return new TokenTexts(texts, eosTokenIds, pieces);
}
