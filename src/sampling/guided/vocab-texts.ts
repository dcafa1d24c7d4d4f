/**
 * The text each token adds to an output, for guided decoding: decoded after an anchor token and
 * taken as the difference, so a SentencePiece token keeps its leading space (decoded alone, `▁the`
 * reads `the`). Special tokens, tokens that decode to nothing and byte tokens that are only part of
 * a character (their text holds U+FFFD) get null: a guide never picks them.
 */
import type { TextTokenizer } from '../../text/tokenizer.ts';
import { TokenTexts } from './token-guide.ts';

export function vocabTexts(tokenizer: TextTokenizer, vocabSize: number, eosTokenIds: readonly number[]): TokenTexts {
  const anchor = tokenizer.encode('a', false);
  const base = tokenizer.decode(anchor);
  const texts: (string | null)[] = new Array(vocabSize).fill(null);
  const n = Math.min(vocabSize, tokenizer.size);
  for (let id = 0; id < n; id++) {
    if (tokenizer.specialIds.has(id)) continue;
    const t = tokenizer.decode([...anchor, id]);
    if (!t.startsWith(base)) continue;
    const text = t.slice(base.length);
    if (text && !text.includes('\uFFFD')) texts[id] = text;
  }
  return new TokenTexts(texts, eosTokenIds);
}
