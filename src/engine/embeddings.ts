/**
 * OpenAI's embeddings from the served generative model, as llama.cpp's server gives them: each
 * input's hidden state after the model's embedding layer (the layer the router reads: half the
 * depth), mean-pooled over its tokens and L2-normalised. One
 * prefill per input of the layers below that layer only (Engine.embed), interleaved with the
 * engine's steps, so generation keeps running; an input embedded before is answered from the
 * engine's embedding cache. At most `--max-queue` embeddings requests run at once (429 past it);
 * a client that goes away stops its request before the next input.
 */
import { CancelledError, InvalidRequestError } from '../errors.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { outcomeOf } from '../metrics/outcomes.ts';
import type { Engine } from './engine.ts';
import { checkServedModel, checkTokenIds, REQUEST_LIMITS } from './request-checks.ts';
import type { PromptServices } from './render-prompt.ts';

/** What an embeddings request asks, in domain terms. */
export interface EmbeddingSpec {
  model?: string;
  /** Texts or token-id lists (a single one as a list of one). */
  input: ({ kind: 'text'; text: string } | { kind: 'tokens'; tokens: number[] })[];
  /** OpenAI's `dimensions`: only the model's own width is served (no truncated vectors). */
  dimensions?: number;
  /** Aborted when the client goes away. */
  signal?: AbortSignal;
}

export interface EmbeddingResult {
  /** One unit-length vector per input, in input order. */
  vectors: Float32Array[];
  /** Tokens embedded, over all inputs. */
  promptTokens: number;
}

/** Counts an embeddings request's outcome (and its tokens when it succeeded); returns the result or rethrows. */
export async function countedEmbedding(metrics: Metrics, run: () => Promise<EmbeddingResult>): Promise<EmbeddingResult> {
  try {
    const r = await run();
    metrics.embeddingRequests.inc({ outcome: 'ok' });
    metrics.embeddingTokens.inc(r.promptTokens);
    return r;
  } catch (err) {
    metrics.embeddingRequests.inc({ outcome: outcomeOf(err) });
    throw err;
  }
}

/** Inputs one request may carry. */
export const MAX_EMBEDDING_INPUTS = 128;

/** Checks every input (naming `input[i]`), then embeds them one after the other. */
export async function embedInputs(s: Pick<PromptServices, 'info' | 'tokenizer'> & { engine: Pick<Engine, 'embed' | 'withEmbeddingSlot'> }, spec: EmbeddingSpec): Promise<EmbeddingResult> {
  const { info } = s;
  checkServedModel(info, spec.model);
  if (spec.dimensions !== undefined && spec.dimensions !== info.hiddenSize) {
    throw new InvalidRequestError(`this model's embeddings have ${info.hiddenSize} dimensions (its hidden size); got ${spec.dimensions}`, 'dimensions');
  }
  if (spec.input.length === 0 || spec.input.length > MAX_EMBEDDING_INPUTS) throw new InvalidRequestError(`input must hold 1 to ${MAX_EMBEDDING_INPUTS} texts or token lists; got ${spec.input.length}`, 'input');
  const budget = info.maxPositions * REQUEST_LIMITS.maxCharsPerToken;
  const token = spec.input.map((x, i) => {
    const field = spec.input.length === 1 ? 'input' : `input[${i}]`;
    if (x.kind === 'text' && x.text.length > budget) throw new InvalidRequestError(`input has ${x.text.length} characters, more than fits the model's context of ${info.maxPositions} tokens`, field, 'context_length_exceeded');
    const tokens = x.kind === 'text' ? s.tokenizer.encode(x.text, true) : x.tokens;
    if (x.kind === 'tokens') checkTokenIds(tokens, info.vocabSize, field);
    if (tokens.length === 0 || (x.kind === 'text' && x.text.length === 0)) throw new InvalidRequestError('input is empty', field);
    if (tokens.length > info.maxPositions) throw new InvalidRequestError(`input has ${tokens.length} tokens; the model's context is ${info.maxPositions}`, field, 'context_length_exceeded');
    return tokens;
  });
  return s.engine.withEmbeddingSlot(async () => {
    const vectors: Float32Array[] = [];
    for (const tokens of token) {
      if (spec.signal?.aborted) throw new CancelledError('the client went away');
      vectors.push(unit(await s.engine.embed(tokens)));
    }
    return { vectors, promptTokens: token.reduce((n, t) => n + t.length, 0) };
  });
}

/** `v` scaled to unit length (a copy; a zero vector stays zero). */
function unit(v: Float32Array): Float32Array {
  let ss = 0;
  for (const x of v) ss += x * x;
  const r = ss > 0 ? 1 / Math.sqrt(ss) : 0;
  return v.map((x) => x * r);
}
