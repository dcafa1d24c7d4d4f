/**
 * The checks of one request's fields, each naming the domain field it refuses (the transports map
 * names to the wire's): ranges of numbers, the caller's tags, logit_bias, token ids, stop rules
 * and vLLM's token rules, and the served model's id. prepare-request.ts runs them.
 */
import { InvalidRequestError, NotFoundError } from '../errors.ts';
import type { ModelInfo } from '../model/model-info.ts';
import type { GenerationRequest, RequestSpec, SamplingParams, TextTokenizer } from './types.ts';

/** Limits on what one request may ask for (maxCoreFraction: the largest share of the sublayer FLOPs a sub-network may skip). */
export const REQUEST_LIMITS = { maxLogitBias: 1024, maxStops: 16, maxStopChars: 256, maxAnswerPatternChars: 500, maxTopLogprobs: 20, maxTemperature: 2, maxMetadataPairs: 16, maxMetadataKeyChars: 64, maxMetadataValueChars: 512, maxReferenceAnswerChars: 1000, maxCharsPerToken: 32, maxPrompts: 64, maxCoreFraction: 0.6, maxStopTokenIds: 64, maxBadWords: 64, maxBadWordChars: 256 };

export function int(v: number | undefined, field: string, lo: number, hi: number, what = `an integer from ${lo} to ${hi}`): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < lo || v > hi) throw new InvalidRequestError(`${field} must be ${what}; got ${v}`, field);
  return v;
}

/** Checks the caller's tags: OpenAI's limits (16 pairs, keys up to 64 characters, values up to 512). */
export function checkMetadata(m: Record<string, string> | undefined): Record<string, string> | undefined {
  if (m === undefined) return undefined;
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new InvalidRequestError('metadata must be an object of string values', 'metadata');
  const entries = Object.entries(m);
  const { maxMetadataPairs: pairs, maxMetadataKeyChars: keyChars, maxMetadataValueChars: valueChars } = REQUEST_LIMITS;
  if (entries.length > pairs) throw new InvalidRequestError(`metadata has ${entries.length} keys; at most ${pairs}`, 'metadata');
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > keyChars) throw new InvalidRequestError(`metadata keys must have 1 to ${keyChars} characters; got ${k.length}`, 'metadata');
    if (typeof v !== 'string') throw new InvalidRequestError(`metadata.${k} must be a string`, `metadata.${k}`);
    if (v.length > valueChars) throw new InvalidRequestError(`metadata.${k} must have at most ${valueChars} characters; got ${v.length}`, `metadata.${k}`);
  }
  return entries.length ? { ...m } : undefined;
}

/** OpenAI's logit_bias as [token, bias] pairs in token order; errors name `logitBias.<id>`. */
export function checkLogitBias(m: Record<string, number> | undefined, vocabSize: number): [number, number][] {
  if (m === undefined) return [];
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new InvalidRequestError('logitBias must be an object of token ids to biases', 'logitBias');
  const entries = Object.entries(m);
  if (entries.length > REQUEST_LIMITS.maxLogitBias) throw new InvalidRequestError(`logitBias has ${entries.length} tokens; at most ${REQUEST_LIMITS.maxLogitBias}`, 'logitBias');
  const out: [number, number][] = [];
  for (const [k, b] of entries) {
    const t = /^(0|[1-9][0-9]{0,9})$/.test(k) ? Number(k) : NaN;
    if (!(t < vocabSize)) throw new InvalidRequestError(`logitBias key '${k.slice(0, 20)}' is not a token id (vocabulary size ${vocabSize})`, `logitBias.${k.slice(0, 20)}`);
    if (typeof b !== 'number' || !(b >= -100 && b <= 100)) throw new InvalidRequestError(`logitBias.${k} must be a number from -100 to 100; got ${b}`, `logitBias.${k}`);
    if (b !== 0) out.push([t, b]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/** Refuses a model id this server does not serve (404 naming `model`); absent or empty: the served one. */
export function checkServedModel(info: Pick<ModelInfo, 'id' | 'aliases'>, model: string | undefined): void {
  if (model && model !== info.id && !info.aliases?.includes(model)) throw new NotFoundError(`model '${model}' is not served here; this server serves '${[info.id, ...(info.aliases ?? [])].join("', '")}'`, 'model');
}

/** vLLM's stop_token_ids, min_tokens (at most `maxTokens`), include_stop_str_in_output and skip_special_tokens, checked. */
export function checkEndRules(spec: RequestSpec, vocabSize: number, maxTokens: number): Pick<GenerationRequest, 'stopTokenIds' | 'minTokens' | 'includeStopStr' | 'keepSpecialTokens'> {
  const ids = spec.stopTokenIds ?? [];
  if (!Array.isArray(ids) || ids.length > REQUEST_LIMITS.maxStopTokenIds) throw new InvalidRequestError(`stopTokenIds must be a list of at most ${REQUEST_LIMITS.maxStopTokenIds} token ids`, 'stopTokenIds');
  checkTokenIds(ids, vocabSize, 'stopTokenIds');
  const minTokens = int(spec.minTokens, 'minTokens', 0, maxTokens, `an integer from 0 to maxTokens (${maxTokens})`) ?? 0;
  return { ...(ids.length ? { stopTokenIds: [...new Set(ids)] } : {}), ...(minTokens > 0 ? { minTokens } : {}), ...(spec.includeStopStrInOutput ? { includeStopStr: true } : {}), ...(spec.skipSpecialTokens === false ? { keepSpecialTokens: true } : {}) };
}

/** vLLM's allowed_token_ids and bad_words as the sampler takes them (sorted distinct ids; token sequences). */
export function checkTokenRules(s: { info: Pick<ModelInfo, 'vocabSize'>; tokenizer: TextTokenizer }, spec: RequestSpec): Pick<SamplingParams, 'allowedTokenIds' | 'badWords'> {
  const out: Pick<SamplingParams, 'allowedTokenIds' | 'badWords'> = {};
  if (spec.allowedTokenIds !== undefined) {
    if (!Array.isArray(spec.allowedTokenIds) || spec.allowedTokenIds.length === 0) throw new InvalidRequestError('allowedTokenIds must be a non-empty list of token ids', 'allowedTokenIds');
    checkTokenIds(spec.allowedTokenIds, s.info.vocabSize, 'allowedTokenIds');
    out.allowedTokenIds = [...new Set(spec.allowedTokenIds)].sort((a, b) => a - b);
  }
  const words = spec.badWords ?? [];
  if (!Array.isArray(words) || words.length > REQUEST_LIMITS.maxBadWords) throw new InvalidRequestError(`badWords must be a list of at most ${REQUEST_LIMITS.maxBadWords} words`, 'badWords');
  const seqs = new Map<string, number[]>();
  words.forEach((w, i) => {
    const word = w.trimStart();
    if (word.length === 0 || w.length > REQUEST_LIMITS.maxBadWordChars) throw new InvalidRequestError(`badWords[${i}] must have 1 to ${REQUEST_LIMITS.maxBadWordChars} characters (not only spaces)`, `badWords[${i}]`);
    // As written, and after a space (a word in the middle of a text is another token sequence), as vLLM bans them.
    for (const text of [word, ' ' + word]) {
      const ids = s.tokenizer.encode(text, false);
      if (ids.length) seqs.set(ids.join(','), ids);
    }
  });
  if (seqs.size) out.badWords = [...seqs.values()];
  return out;
}

/** Refuses the first entry of `tokens` that is not a token id of the vocabulary, naming `field[i]`. */


export function checkTokenIds(tokens: readonly number[], vocabSize: number, field: string): void {
  const bad = tokens.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= vocabSize);
  if (bad >= 0) throw new InvalidRequestError(`${field}[${bad}]=${tokens[bad]} is not a token id (vocabulary size ${vocabSize})`, `${field}[${bad}]`);
}

export function num(v: number | undefined, field: string, ok: (x: number) => boolean, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isFinite(v) || !ok(v)) throw new InvalidRequestError(`${field} must be ${what}; got ${v}`, field);
  return v;
}

/** Sampling fields that change the distribution a beam's score is read from (beam search ranks by the model's own log-probabilities). */
const NOT_WITH_BEAMS = ['presencePenalty', 'frequencyPenalty', 'repetitionPenalty', 'logitBias', 'allowedTokenIds', 'badWords'] as const satisfies readonly (keyof SamplingParams)[];

/**
 * vLLM's use_beam_search and length_penalty: the beam options, or undefined for sampling. Beams
 * rank by the model's own log-probabilities, so rules that reshape the distribution (penalties,
 * logit_bias, token rules) and guides are refused naming their field; `guideField` is the field
 * that asked for a guide (a guided_* field, response_format or a forced tool call), if any.
 */
export function checkBeamSearch(spec: RequestSpec, sampling: SamplingParams, guideField: string | null): GenerationRequest['beam'] {
  const lengthPenalty = num(spec.lengthPenalty, 'lengthPenalty', (x) => Math.abs(x) <= 100, 'a number from -100 to 100');
  if (!spec.useBeamSearch) {
    if (lengthPenalty !== undefined) throw new InvalidRequestError('lengthPenalty applies to beam search; send useBeamSearch: true with it', 'lengthPenalty');
    return undefined;
  }
  for (const field of NOT_WITH_BEAMS) {
    if (sampling[field] !== undefined) throw new InvalidRequestError(`${field} reshapes the distribution beams are ranked by; beam search takes the model's own log-probabilities (drop ${field} or useBeamSearch)`, field);
  }
  if (guideField) throw new InvalidRequestError(`beam search does not guide its beams; drop ${guideField} or useBeamSearch`, guideField);
  return { lengthPenalty: lengthPenalty ?? 1 };
}
