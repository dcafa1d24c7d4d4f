/**
 * What the HTTP fuzzer sends, generated with fast-check: cheap valid requests, one-field
 * mutations (wrong types, out-of-range values, unknown fields), size limits, JSON chaos (random
 * values, deep nesting, truncation, duplicate keys), byte chaos (invalid UTF-8, control bytes),
 * transport chaos (wrong methods, paths, content types, malformed or contradictory headers), and
 * /tokenize, /detokenize, /v1/embeddings and /v1/responses with valid, mistyped and random bodies.
 * Every case says which field is at fault, if any, and whether the server must refuse it.
 */
import fc from 'fast-check';
import type { RawRequest } from './raw-http.ts';

/** The server's policy names (src/plans/policies/registry.ts): an unknown `skip.policy` is any other string. */
export const KNOWN_POLICIES = ['none', 'explicit', 'random-heads', 'sub-networks', 'head-importance', 'latency-budget', 'expert-profile', 'learned', 'ensemble'];

export interface HttpCase {
  category: 'valid' | 'field' | 'unknown-field' | 'limit' | 'json' | 'bytes' | 'transport' | 'tokenize';
  /** Short human description (kept for failure samples). */
  what: string;
  request: RawRequest;
  /** Half-close the socket after writing (a client that stops sending). */
  halfClose?: boolean;
  /** The field at fault in wire form; a 4xx must name it (`error.param`, prefix match). */
  field: string | null;
  /** A 2xx answer is a failure (the input is invalid). */
  mustReject: boolean;
}

export interface FuzzLimits {
  maxBatch: number;
  context: number;
  vocab: number;
  /** Layers and attention heads per layer: layer indices >= layers, head indices >= heads, k > layers x heads are out of range. */
  layers: number;
  heads: number;
  /** Largest prompt string the limit cases send, in characters. */
  hugeChars: number;
}

type Json = Record<string, unknown>;
const CHAT = '/v1/chat/completions';
const TEXT = '/v1/completions';
const JSON_CT: [string, string] = ['Content-Type', 'application/json'];

function req(path: string, body: Buffer | string, headers: [string, string][] = [JSON_CT], method = 'POST'): RawRequest {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return { method, path, headers: [...headers, ['Content-Length', String(b.length)]], body: b };
}

const prompt = fc.oneof(
  fc.constantFrom('Q: 2+3? A:', 'Tom has 3 apples and buys 5 more. How many?', 'hi'),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
);

/** A cheap valid body (n <= 2, max_tokens <= 4) for chat or completions. */
const validBody = fc
  .record({
    chat: fc.boolean(),
    prompt,
    n: fc.integer({ min: 1, max: 2 }),
    max_tokens: fc.integer({ min: 1, max: 4 }),
    temperature: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 2, noNaN: true })),
    seed: fc.option(fc.nat({ max: 1e9 }), { nil: undefined }),
    stream: fc.boolean(),
    stop: fc.option(fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 4 })), { nil: undefined }),
    repetition_penalty: fc.option(fc.double({ min: 0.5, max: 2, noNaN: true }), { nil: undefined }),
    bad_words: fc.option(fc.array(fc.string({ minLength: 1, maxLength: 6 }).filter((w) => w.trim().length > 0), { maxLength: 3 }), { nil: undefined }),
    min_tokens: fc.option(fc.integer({ min: 0, max: 1 }), { nil: undefined }),
    include_stop_str_in_output: fc.option(fc.boolean(), { nil: undefined }),
    priority: fc.option(fc.integer({ min: -5, max: 5 }), { nil: undefined }),
    truncate_prompt_tokens: fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
    skip: fc.option(
      fc.oneof(
        fc.constant({ policy: 'none' }),
        fc.record({ policy: fc.constant('random-heads'), k: fc.integer({ min: 0, max: 2 }) }),
        fc.record({ policy: fc.constant('explicit'), plan: fc.record({ skip_mlp: fc.uniqueArray(fc.integer({ min: 0, max: 5 }), { maxLength: 2 }) }) }),
      ),
      { nil: undefined },
    ),
    /** Beam search instead of sampling (what reshapes the distribution then goes). */
    beam: fc.option(fc.record({ length_penalty: fc.option(fc.double({ min: -2, max: 2, noNaN: true }), { nil: undefined }) }), { nil: undefined }),
  })
  .map(({ chat, prompt: p, beam, ...rest }) => {
    const body: Json = chat ? { messages: [{ role: 'user', content: p }] } : { prompt: p };
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) body[k] = v;
    if (beam) {
      body.use_beam_search = true;
      if (beam.length_penalty !== undefined) body.length_penalty = beam.length_penalty;
      delete body.repetition_penalty;
      delete body.bad_words;
      if ((body.skip as { policy?: string } | undefined)?.policy === 'random-heads') body.skip = { policy: 'none' };
    }
    return { path: chat ? CHAT : TEXT, body };
  });

/** Sets a dotted path (`skip.k`, `messages.0.role`) on a body, creating objects on the way. */
function setPath(body: Json, path: string, value: unknown): void {
  const keys = path.split('.');
  let o: any = body;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  o[keys.at(-1)!] = value;
}

interface Mutation {
  /** Dotted path to set. */
  path: string;
  /** Expected `error.param`. */
  param: string;
  only?: 'chat' | 'text';
  values: fc.Arbitrary<unknown>;
  /** Extra edits needed for the mutation to reach this field (e.g. policy explicit). */
  prepare?: (b: Json) => void;
  /** Some generated values are valid. */
  mayBeValid?: boolean;
}

const notNumber = fc.oneof(fc.string({ maxLength: 5 }), fc.boolean(), fc.constant(null), fc.array(fc.nat(), { maxLength: 2 }), fc.constant({}));
const explicit = (b: Json) => setPath(b, 'skip.policy', 'explicit');

function mutations(l: FuzzLimits): Mutation[] {
  return [
    { path: 'n', param: 'n', values: fc.oneof(fc.integer({ min: -1e9, max: 0 }), fc.integer({ min: l.maxBatch + 1, max: 1e9 }), fc.double({ min: 1.01, max: 1.99, noNaN: true }), notNumber) },
    { path: 'best_of', param: 'best_of', values: fc.oneof(fc.integer({ min: -1e9, max: 0 }), fc.integer({ min: l.maxBatch + 1, max: 1e9 }), fc.double({ min: 1.01, max: 1.99, noNaN: true }), notNumber.filter((v) => v !== null)), prepare: (b) => (b.n = 1) },
    // Streamed best_of > n is refused, except under beam search (whose beams come whole at the end).
    { path: 'best_of', param: 'best_of', values: fc.integer({ min: 2, max: l.maxBatch }), prepare: (b) => (delete b.use_beam_search, delete b.length_penalty, Object.assign(b, { n: 1, stream: true })) },
    { path: 'max_tokens', param: 'max_tokens', values: fc.oneof(fc.integer({ min: -1e6, max: 0 }), fc.integer({ min: l.context, max: 2 ** 40 }), fc.constant(1e20), fc.double({ min: 1.1, max: 3.9, noNaN: true }), notNumber.filter((v) => v !== null)) },
    { path: 'max_completion_tokens', param: 'max_completion_tokens', values: fc.oneof(fc.integer({ min: -5, max: 0 }), fc.integer({ min: l.context, max: 1e7 }), fc.string({ maxLength: 3 })) },
    { path: 'temperature', param: 'temperature', values: fc.oneof(fc.double({ min: -1e9, max: -1e-6, noNaN: true }), fc.double({ min: 2.0001, max: 1e9, noNaN: true }), fc.string({ maxLength: 4 }), fc.boolean()) },
    { path: 'top_p', param: 'top_p', values: fc.oneof(fc.constant(0), fc.double({ min: -10, max: -1e-6, noNaN: true }), fc.double({ min: 1.0001, max: 100, noNaN: true }), fc.string({ maxLength: 3 })) },
    { path: 'top_k', param: 'top_k', values: fc.oneof(fc.integer({ min: -1e6, max: -2 }), fc.double({ min: 0.1, max: 0.9, noNaN: true }), fc.string({ maxLength: 3 })) },
    { path: 'seed', param: 'seed', values: fc.oneof(fc.integer({ min: -1e9, max: -1 }), fc.constant(2 ** 60), fc.double({ min: 0.1, max: 0.9, noNaN: true }), fc.string({ maxLength: 3 })) },
    { path: 'stop', param: 'stop', values: fc.oneof(fc.array(fc.string({ maxLength: 3 }), { minLength: 17, maxLength: 64 }), fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), fc.integer(), fc.constant({})) },
    { path: 'stream', param: 'stream', values: fc.oneof(fc.string({ maxLength: 3 }), fc.integer(), fc.constant({})) },
    { path: 'stream_options', param: 'stream_options', values: fc.oneof(fc.record({ include_usage: fc.string({ maxLength: 2 }) }), fc.record({ extra: fc.nat() }), fc.string({ maxLength: 2 })) },
    { path: 'ignore_eos', param: 'ignore_eos', values: fc.oneof(fc.string({ maxLength: 2 }), fc.nat(), fc.constant(null)) },
    { path: 'user', param: 'user', values: fc.oneof(fc.nat(), fc.boolean(), fc.constant([])) },
    { path: 'model', param: 'model', values: fc.oneof(fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== 'default'), fc.nat(), fc.constant({})) },
    { path: 'presence_penalty', param: 'presence_penalty', values: fc.oneof(fc.double({ min: 2.0001, max: 1e6, noNaN: true }), fc.double({ min: -1e6, max: -2.0001, noNaN: true }), fc.string({ maxLength: 2 })) },
    { path: 'frequency_penalty', param: 'frequency_penalty', values: fc.oneof(fc.double({ min: -1e6, max: -2.0001, noNaN: true }), fc.double({ min: 2.0001, max: 1e6, noNaN: true }), fc.boolean()) },
    { path: 'min_p', param: 'min_p', values: fc.oneof(fc.double({ min: -10, max: -1e-6, noNaN: true }), fc.double({ min: 1.0001, max: 100, noNaN: true }), fc.string({ maxLength: 3 })) },
    { path: 'logit_bias', param: 'logit_bias', values: fc.oneof(fc.dictionary(fc.constantFrom('5', '-1', 'x', '1e3', String(l.vocab), '00'), fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minKeys: 1, maxKeys: 3 }).filter((d) => Object.entries(d).some(([k, v]) => !/^(0|[1-9][0-9]*)$/.test(k) || Number(k) >= l.vocab || Math.abs(v) > 100)), fc.dictionary(fc.constantFrom('5', '7'), fc.double({ min: 100.001, max: 1e9, noNaN: true }), { minKeys: 1, maxKeys: 2 }), fc.string({ maxLength: 3 }), fc.array(fc.nat(), { maxLength: 2 })) },
    { path: 'repetition_penalty', param: 'repetition_penalty', values: fc.oneof(fc.double({ min: -1e6, max: 0, noNaN: true }), fc.double({ min: 10.0001, max: 1e9, noNaN: true }), fc.string({ maxLength: 2 })) },
    { path: 'allowed_token_ids', param: 'allowed_token_ids', values: fc.oneof(fc.constant([]), fc.array(fc.integer({ min: l.vocab, max: 2 ** 31 }), { minLength: 1, maxLength: 2 }), fc.array(fc.integer({ min: -9, max: -1 }), { minLength: 1, maxLength: 2 }), fc.string({ maxLength: 2 })) },
    { path: 'bad_words', param: 'bad_words', values: fc.oneof(fc.constant(['']), fc.constant(['  ']), fc.array(fc.constant('w'), { minLength: 65, maxLength: 70 }), fc.array(fc.nat(), { minLength: 1, maxLength: 2 }), fc.string({ maxLength: 2 })) },
    { path: 'stop_token_ids', param: 'stop_token_ids', values: fc.oneof(fc.array(fc.integer({ min: l.vocab, max: 2 ** 31 }), { minLength: 1, maxLength: 2 }), fc.array(fc.integer({ min: -9, max: -1 }), { minLength: 1, maxLength: 2 }), fc.array(fc.nat({ max: l.vocab - 1 }), { minLength: 65, maxLength: 80 }), fc.string({ maxLength: 2 })) },
    { path: 'min_tokens', param: 'min_tokens', values: fc.oneof(fc.integer({ min: -1e6, max: -1 }), fc.integer({ min: 5, max: 1e7 }), fc.double({ min: 0.1, max: 0.9, noNaN: true }), fc.string({ maxLength: 2 })), prepare: (b) => (b.max_tokens = 4) },
    { path: 'min_tokens', param: 'min_tokens', values: fc.integer({ min: 1, max: 4 }), prepare: (b) => Object.assign(b, { max_tokens: 4, guided_regex: 'a+' }) },
    { path: 'priority', param: 'priority', values: fc.oneof(fc.double({ min: 0.1, max: 0.9, noNaN: true }), fc.constant(2 ** 40), fc.constant(-(2 ** 40)), fc.string({ maxLength: 2 })) },
    { path: 'prompt_logprobs', param: 'prompt_logprobs', values: fc.oneof(fc.integer({ min: 21, max: 1e6 }), fc.integer({ min: -9, max: -1 }), fc.double({ min: 0.1, max: 0.9, noNaN: true }), fc.string({ maxLength: 2 })) },
    { path: 'prompt_logprobs', param: 'prompt_logprobs', values: fc.integer({ min: 0, max: 5 }), prepare: (b) => (b.stream = true) },
    { path: 'truncate_prompt_tokens', param: 'truncate_prompt_tokens', values: fc.oneof(fc.integer({ min: -1e6, max: 0 }), fc.double({ min: 1.1, max: 1.9, noNaN: true }), fc.string({ maxLength: 2 })) },
    { path: 'add_generation_prompt', param: 'add_generation_prompt', only: 'chat', values: fc.oneof(fc.string({ maxLength: 2 }), fc.nat()) },
    { path: 'add_generation_prompt', param: 'add_generation_prompt', only: 'chat', values: fc.constant(true), prepare: (b) => Object.assign(b, { continue_final_message: true, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'x' }] }) },
    { path: 'continue_final_message', param: 'messages[0].role', only: 'chat', values: fc.constant(true) },
    { path: 'chat_template_kwargs', param: 'chat_template_kwargs', only: 'chat', values: fc.oneof(fc.constant({ messages: [] }), fc.constant({ bos_token: 'x' }), fc.string({ maxLength: 2 }), fc.nat(), fc.constant([])) },
    { path: 'continue_final_message', param: 'continue_final_message', values: fc.oneof(fc.string({ maxLength: 2 }), fc.nat()) },
    { path: 'include_stop_str_in_output', param: 'include_stop_str_in_output', values: fc.oneof(fc.string({ maxLength: 2 }), fc.nat(), fc.constant([])) },
    { path: 'logprobs', param: 'logprobs', only: 'chat', values: fc.oneof(fc.string({ maxLength: 2 }), fc.nat({ max: 5 })) },
    { path: 'top_logprobs', param: 'top_logprobs', only: 'chat', values: fc.oneof(fc.integer({ min: 21, max: 1e6 }), fc.integer({ min: -1e3, max: -1 })), prepare: (b) => (b.logprobs = true) },
    { path: 'top_logprobs', param: 'top_logprobs', only: 'chat', values: fc.integer({ min: 0, max: 20 }) },
    { path: 'logprobs', param: 'logprobs', only: 'text', values: fc.oneof(fc.integer({ min: 21, max: 1e4 }), fc.integer({ min: -9, max: -1 }), fc.boolean()) },
    { path: 'echo', param: 'echo', only: 'text', values: fc.oneof(fc.nat(), fc.string({ maxLength: 3 }), fc.constant(null)) },
    { path: 'messages', param: 'messages', only: 'chat', values: fc.oneof(fc.constant([]), fc.string({ maxLength: 5 }), fc.nat(), fc.constant(null)) },
    { path: 'messages.0.role', param: 'messages[0].role', only: 'chat', values: fc.oneof(fc.string({ maxLength: 8 }).filter((s) => !['system', 'user', 'assistant', 'developer'].includes(s)), fc.nat()) },
    { path: 'messages.0.content', param: 'messages[0].content', only: 'chat', values: fc.oneof(fc.nat(), fc.constant(null), fc.constant([{ type: 'image_url', image_url: { url: 'x' } }]), fc.constant([{ type: 'text' }])) },
    { path: 'messages.0.name', param: 'messages[0].name', only: 'chat', values: fc.oneof(fc.nat(), fc.constant([])) },
    { path: 'prompt', param: 'prompt', only: 'text', values: fc.oneof(fc.constant([]), fc.nat(), fc.constant(null), fc.array(fc.string({ maxLength: 3 }), { minLength: 65, maxLength: 70 }), fc.constant(['a', 7]), fc.array(fc.double({ min: 0.1, max: 9.9, noNaN: true }), { minLength: 1, maxLength: 3 }), fc.array(fc.integer({ min: -9, max: -1 }), { minLength: 1, maxLength: 3 }), fc.array(fc.integer({ min: l.vocab, max: 2 ** 31 }), { minLength: 1, maxLength: 3 })) },
    { path: 'guided_regex', param: 'guided_regex', values: fc.oneof(fc.constantFrom('(', '[a', 'a{3,1}', '(?=a)', '\\1', 'a**', 'a{2000}', ''), fc.nat(), fc.constant([])) },
    { path: 'guided_choice', param: 'guided_choice', values: fc.oneof(fc.constant([]), fc.constant(['']), fc.string({ maxLength: 3 }), fc.array(fc.nat(), { minLength: 1, maxLength: 2 })) },
    { path: 'guided_json', param: 'guided_json', values: fc.oneof(fc.constantFrom('{', '[1]', '{"type":"date"}', '{"if":{}}'), fc.constant({ type: 'object', properties: { a: { type: 'nope' } } }), fc.nat(), fc.constant([])) },
    { path: 'response_format', param: 'response_format', values: fc.oneof(fc.constant({ type: 'xml' }), fc.constant({ type: 'json_schema' }), fc.constant({ type: 'json_schema', json_schema: { schema: { $ref: '#/$defs/x' } } }), fc.string({ maxLength: 3 }), fc.nat()) },
    { path: 'guided_regex', param: 'guided_choice', values: fc.constant('a+'), prepare: (b) => (b.guided_choice = ['x']) },
    { path: 'guided_grammar', param: 'guided_grammar', values: fc.oneof(fc.constantFrom('root ::= x', 'root ::= "a', 'r ::= "a"', 'root ::= [z-a]', 'root ::= <[1]>', 'root ::= "a"{9,1}', ''), fc.string({ maxLength: 12 }).filter((g) => !/::=/.test(g)), fc.nat(), fc.constant([])) },
    { path: 'structured_outputs', param: 'structured_outputs', values: fc.oneof(fc.constant({ regex: '(' }), fc.constant({ choice: [] }), fc.constant({ json: '{' }), fc.constant({ grammar: 'root ::= x' }), fc.constant({ regex: 'a', choice: ['b'] }), fc.constant({ whitespace_pattern: ' ' }), fc.nat(), fc.string({ maxLength: 3 })) },
    { path: 'grammar', param: 'grammar', values: fc.constantFrom('root ::= (', 'root ::= "\\q"'), prepare: (b) => delete b.guided_grammar },
    { path: 'tool_choice', param: 'tool_choice', only: 'chat', values: fc.oneof(fc.constantFrom('auto', 'sometimes'), fc.constant({ type: 'function', function: { name: 'nope' } })), prepare: (b) => (b.tools = [{ type: 'function', function: { name: 'f' } }]) },
    { path: 'tools', param: 'tools', only: 'chat', values: fc.oneof(fc.constant([{ type: 'function', function: { name: 'bad name!' } }]), fc.constant([{ type: 'code' }]), fc.string({ maxLength: 3 })), prepare: (b) => (b.tool_choice = 'required') },
    { path: 'use_beam_search', param: 'use_beam_search', values: fc.oneof(fc.string({ maxLength: 3 }), fc.nat(), fc.constant([])) },
    { path: 'length_penalty', param: 'length_penalty', values: fc.oneof(fc.double({ min: 100.01, max: 1e9, noNaN: true }), fc.double({ min: -1e9, max: -100.01, noNaN: true }), fc.string({ maxLength: 2 })), prepare: (b) => (b.use_beam_search = true) },
    { path: 'length_penalty', param: 'length_penalty', values: fc.double({ min: -2, max: 2, noNaN: true }), prepare: (b) => delete b.use_beam_search },
    { path: 'logit_bias', param: 'logit_bias', values: fc.constant({ '5': 3 }), prepare: (b) => (delete b.repetition_penalty, delete b.bad_words, (b.use_beam_search = true)) },
    { path: 'skip.policy', param: 'skip.policy', values: fc.constant('random-heads'), prepare: (b) => (delete b.repetition_penalty, delete b.bad_words, Object.assign(b, { use_beam_search: true, n: 2, skip: { k: 2 } })) },
    { path: 'skip', param: 'skip', values: fc.oneof(fc.string({ maxLength: 4 }), fc.nat(), fc.constant([])) },
    { path: 'skip.policy', param: 'skip.policy', values: fc.oneof(fc.string({ maxLength: 12 }).filter((s) => !KNOWN_POLICIES.includes(s)), fc.nat()) },
    { path: 'skip.k', param: 'skip.k', values: fc.oneof(fc.integer({ min: -1e6, max: -1 }), fc.double({ min: 0.1, max: 0.9, noNaN: true }), fc.string({ maxLength: 2 })), prepare: (b) => (b.skip = { policy: 'random-heads' }) },
    { path: 'skip.target_speedup', param: 'skip.target_speedup', values: fc.oneof(fc.double({ min: -5, max: 0.99, noNaN: true }), fc.double({ min: 100.01, max: 1e9, noNaN: true }), fc.string({ maxLength: 2 })), prepare: (b) => (b.skip = { policy: 'latency-budget' }) },
    { path: 'skip.core_fraction', param: 'skip.core_fraction', values: fc.oneof(fc.double({ min: -5, max: 0, noNaN: true }), fc.double({ min: 0.6001, max: 1e9, noNaN: true }), fc.string({ maxLength: 2 })), prepare: (b) => (b.skip = { policy: 'sub-networks' }) },
    { path: 'skip.select', param: 'skip.select', values: fc.string({ maxLength: 8 }).filter((s) => !['vote', 'weighted', 'logprob', 'none'].includes(s)) },
    { path: 'skip.answer_pattern', param: 'skip.answer_pattern', values: fc.oneof(fc.constantFrom('(', '[', '(?<', '*', 'a{2,1}'), fc.string({ minLength: 501, maxLength: 900 }), fc.nat()) },
    { path: 'skip.plan', param: 'skip.plan', prepare: explicit, values: fc.oneof(fc.string({ maxLength: 3 }), fc.nat(), fc.constant([]), fc.record({ skip_layers: fc.array(fc.integer({ min: l.layers, max: 1e6 }), { minLength: 1, maxLength: 3 }) }), fc.record({ skip_mlp: fc.array(fc.integer({ min: -9, max: -1 }), { minLength: 1, maxLength: 2 }) }), fc.record({ mask_heads: fc.dictionary(fc.constantFrom('0', '1', '99', 'x', '-1'), fc.array(fc.integer({ min: l.heads, max: l.heads + 99 }), { minLength: 1, maxLength: 3 }), { minKeys: 1, maxKeys: 2 }) }), fc.record({ bogus: fc.nat() })) },
    { path: 'skip.plans', param: 'skip.plans', prepare: explicit, values: fc.oneof(fc.constant([]), fc.array(fc.constant({}), { minLength: 3, maxLength: 5 }), fc.string({ maxLength: 2 }), fc.array(fc.nat(), { minLength: 1, maxLength: 2 })) },
  ];
}

const KNOWN = new Set(['model', 'n', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'top_k', 'seed', 'stop', 'stream', 'stream_options', 'ignore_eos', 'user', 'presence_penalty', 'frequency_penalty', 'min_p', 'logit_bias', 'repetition_penalty', 'allowed_token_ids', 'bad_words', 'stop_token_ids', 'min_tokens', 'include_stop_str_in_output', 'priority', 'prompt_logprobs', 'truncate_prompt_tokens', 'add_generation_prompt', 'continue_final_message', 'chat_template_kwargs', 'skip', 'messages', 'prompt', 'logprobs', 'top_logprobs', 'echo', 'best_of', 'response_format', 'guided_regex', 'guided_choice', 'guided_json', 'guided_grammar', 'grammar', 'structured_outputs', 'tools', 'tool_choice', 'parallel_tool_calls', 'use_beam_search', 'length_penalty']);
const unknownKey = fc.oneof(fc.constantFrom('functions', 'function_call', 'guided_grammar', 'best_of', 'logit_bias', '__proto__', 'constructor', 'suffix'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 })).filter((k) => !KNOWN.has(k));

function withBody(v: { path: string; body: Json }, f: (b: Json) => void): { path: string; body: Json } {
  const body = structuredClone(v.body);
  f(body);
  return { path: v.path, body };
}

function fieldCases(l: FuzzLimits): fc.Arbitrary<HttpCase> {
  const all = mutations(l);
  return fc.tuple(validBody, fc.nat({ max: all.length - 1 })).chain(([v, i]) => {
    const chat = v.path === CHAT;
    const pool = all.filter((m) => !m.only || m.only === (chat ? 'chat' : 'text'));
    const m = pool[i % pool.length]!;
    return m.values.map((value): HttpCase => {
      const b = withBody(v, (body) => {
        body.stream = false;
        m.prepare?.(body);
        if (m.path === 'top_logprobs' && !m.prepare) delete body.logprobs;
        setPath(body, m.path, value);
      });
      return { category: 'field', what: `${m.path} = ${JSON.stringify(value)?.slice(0, 60)}`, request: req(b.path, JSON.stringify(b.body)), field: m.param, mustReject: true };
    });
  });
}

const GUIDES = new Set(['guided_regex', 'guided_choice', 'guided_json', 'guided_grammar', 'grammar', 'structured_outputs', 'response_format']);

const randomTypeCases: fc.Arbitrary<HttpCase> = fc.tuple(validBody, fc.constantFrom(...KNOWN), fc.jsonValue({ maxDepth: 3 })).map(([v, key, value]) => {
  const b = withBody(v, (body) => {
    body.stream = false;
    body[key] = value;
    // A guide refuses min_tokens: that refusal names min_tokens (its own mutation checks it), not the random key.
    if (GUIDES.has(key)) delete body.min_tokens;
  });
  // continue_final_message: true on a chat whose last message is the user's names that message (messages[i].role).
  const field = key === 'continue_final_message' && value === true && v.path === CHAT ? 'messages' : key;
  return { category: 'field', what: `${key} = random ${JSON.stringify(value)?.slice(0, 60)}`, request: req(b.path, JSON.stringify(b.body)), field, mustReject: false };
});

const unknownFieldCases: fc.Arbitrary<HttpCase> = fc.tuple(validBody, unknownKey, fc.jsonValue({ maxDepth: 2 }), fc.boolean()).map(([v, key, value, inSkip]) => {
  const b = withBody(v, (body) => {
    body.stream = false;
    // defineProperty, so that a '__proto__' key becomes an own property that JSON.stringify writes.
    const own = (o: Json) => Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
    if (inSkip) body.skip = own({ ...(body.skip as Json | undefined) });
    else own(body);
  });
  const text = JSON.stringify(b.body);
  return { category: 'unknown-field', what: `${inSkip ? 'skip.' : ''}${key}`, request: req(b.path, text), field: inSkip ? `skip.${key}` : key, mustReject: true };
});

function limitCases(l: FuzzLimits): fc.Arbitrary<HttpCase> {
  const big = fc.integer({ min: l.context * 4, max: l.hugeChars });
  return fc.oneof(
    big.map((len): HttpCase => ({ category: 'limit', what: `prompt of ${len} chars`, request: req(TEXT, JSON.stringify({ prompt: 'ab '.repeat(Math.ceil(len / 3)).slice(0, len), max_tokens: 2 })), field: 'prompt', mustReject: true })),
    big.map((len): HttpCase => ({ category: 'limit', what: `chat content of ${len} chars`, request: req(CHAT, JSON.stringify({ messages: [{ role: 'user', content: '7'.repeat(len) }], max_tokens: 2 })), field: 'messages', mustReject: true })),
    fc.integer({ min: l.context, max: 50_000 }).map((len): HttpCase => ({ category: 'limit', what: `prompt of ${len} token ids`, request: req(TEXT, JSON.stringify({ prompt: Array.from({ length: len }, (_, i) => 3 + (i % (l.vocab - 3))), max_tokens: 2 })), field: 'prompt', mustReject: true })),
    fc.integer({ min: 1000, max: 5000 }).map((len): HttpCase => ({ category: 'limit', what: `${len} messages`, request: req(CHAT, JSON.stringify({ messages: Array.from({ length: len }, () => ({ role: 'user', content: 'twelve apples' })), max_tokens: 2 })), field: 'messages', mustReject: true })),
    fc.integer({ min: 1000, max: 20_000 }).map((len): HttpCase => ({ category: 'limit', what: `stop string of ${len} chars`, request: req(TEXT, JSON.stringify({ prompt: 'Q: 1+1? A:', max_tokens: 2, stop: 'x'.repeat(len) })), field: 'stop', mustReject: true })),
    fc.integer({ min: l.maxBatch + 1, max: 1e6 }).map((n): HttpCase => ({ category: 'limit', what: `n = ${n}`, request: req(TEXT, JSON.stringify({ prompt: 'Q: 1+1? A:', max_tokens: 2, n })), field: 'n', mustReject: true })),
    fc.integer({ min: l.context, max: 1e9 }).map((m): HttpCase => ({ category: 'limit', what: `max_tokens = ${m}`, request: req(TEXT, JSON.stringify({ prompt: 'Q: 1+1? A:', max_tokens: m })), field: 'max_tokens', mustReject: true })),
  );
}

const depth = fc.integer({ min: 100, max: 100_000 });
const jsonCases: fc.Arbitrary<HttpCase> = fc.oneof(
  fc.tuple(fc.boolean(), fc.jsonValue({ maxDepth: 4 }).filter((v) => v === null || typeof v !== 'object' || Array.isArray(v))).map(([chat, v]): HttpCase => ({ category: 'json', what: `non-object body ${JSON.stringify(v)?.slice(0, 40)}`, request: req(chat ? CHAT : TEXT, JSON.stringify(v) ?? 'null'), field: null, mustReject: true })),
  fc.tuple(fc.boolean(), depth, fc.boolean()).map(([chat, d, arr]): HttpCase => ({ category: 'json', what: `body nested ${d} deep`, request: req(chat ? CHAT : TEXT, arr ? '['.repeat(d) + ']'.repeat(d) : '{"a":'.repeat(d) + '1' + '}'.repeat(d)), field: null, mustReject: true })),
  fc.tuple(depth, fc.constantFrom(['skip', 'plan', 'skip.plan'], ['messages', null, 'messages'], ['stop', null, 'stop'], ['prompt', null, 'prompt'], ['skip', 'plans', 'skip.plans'])).map(([d, [outer, inner, param]]): HttpCase => {
    const nest = '['.repeat(d) + ']'.repeat(d);
    const value = inner ? `{"policy":"explicit","${inner}":${nest}}` : nest;
    const path = outer === 'messages' ? CHAT : TEXT;
    const base = outer === 'messages' ? '' : outer === 'prompt' ? '' : '"prompt":"Q: 1+1? A:",';
    return { category: 'json', what: `${param} nested ${d} deep`, request: req(path, `{${base}"max_tokens":2,"${outer}":${value}}`), field: param!, mustReject: true };
  }),
  fc.tuple(validBody, fc.double({ min: 0, max: 0.999, noNaN: true })).map(([v, at]): HttpCase => {
    const text = JSON.stringify(v.body);
    const cut = Math.floor(at * (text.length - 1));
    return { category: 'json', what: `body cut at ${cut}/${text.length}`, request: req(v.path, text.slice(0, cut)), field: null, mustReject: true };
  }),
  fc.tuple(validBody, fc.constantFrom('n', 'max_tokens', 'temperature')).map(([v, key]): HttpCase => {
    const text = JSON.stringify({ ...v.body, stream: false });
    return { category: 'json', what: `duplicate key ${key}, last one a string`, request: req(v.path, `${text.slice(0, -1)},"${key}":"x"}`), field: key, mustReject: true };
  }),
  fc.tuple(validBody, fc.constantFrom('temperature', 'top_p', 'seed', 'n', 'max_tokens')).map(([v, key]): HttpCase => {
    const text = JSON.stringify({ ...v.body, stream: false });
    return { category: 'json', what: `${key} = 1e400 (Infinity after parsing)`, request: req(v.path, `${text.slice(0, -1)},"${key}":1e400}`), field: key, mustReject: true };
  }),
  fc.tuple(validBody, fc.constantFrom('// c\n', ',', "'", 'NaN', 'undefined')).map(([v, junk]): HttpCase => {
    const text = JSON.stringify(v.body);
    return { category: 'json', what: `JSON with ${JSON.stringify(junk)}`, request: req(v.path, junk === ',' ? `${text.slice(0, -1)},}` : `${text.slice(0, -1)},"x":${junk}}`), field: null, mustReject: true };
  }),
  fc.integer({ min: 1000, max: 20000 }).map((k): HttpCase => {
    const keys = Array.from({ length: k }, (_, i) => `"k${i}":${i}`).join(',');
    return { category: 'json', what: `${k} unknown keys`, request: req(TEXT, `{"prompt":"hi",${keys}}`), field: 'k0', mustReject: true };
  }),
);

const invalidUtf8 = fc.constantFrom([0xff], [0xc0, 0x80], [0x80], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xfe, 0xff], [0xf0, 0x9f]);
const bytesCases: fc.Arbitrary<HttpCase> = fc.oneof(
  fc.tuple(invalidUtf8, fc.string({ maxLength: 10 }), fc.boolean()).map(([bad, text, chat]): HttpCase => {
    const pre = chat ? '{"max_tokens":2,"messages":[{"role":"user","content":"' : '{"max_tokens":2,"prompt":"';
    const post = chat ? '"}]}' : '"}';
    const body = Buffer.concat([Buffer.from(pre + JSON.stringify(text).slice(1, -1)), Buffer.from(bad), Buffer.from(post)]);
    return { category: 'bytes', what: `invalid UTF-8 ${bad.map((b) => b.toString(16)).join(' ')} in the prompt`, request: req(chat ? CHAT : TEXT, body), field: chat ? 'messages' : 'prompt', mustReject: false };
  }),
  invalidUtf8.map((bad): HttpCase => ({ category: 'bytes', what: 'invalid UTF-8 in a key', request: req(TEXT, Buffer.concat([Buffer.from('{"prompt":"hi","'), Buffer.from(bad), Buffer.from('":1}')])), field: null, mustReject: true })),
  fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((b): HttpCase => ({ category: 'bytes', what: `${b.length} random bytes`, request: req(TEXT, Buffer.from(b)), field: null, mustReject: false })),
  fc.constantFrom('\u0000', '\u0001', '\n', '\t', '\u001f').map((c): HttpCase => ({ category: 'bytes', what: `raw control char ${JSON.stringify(c)} in a string`, request: req(TEXT, `{"prompt":"a${c}b","max_tokens":2}`), field: null, mustReject: true })),
  fc.boolean().map((chat): HttpCase => ({ category: 'bytes', what: 'UTF-8 BOM before the JSON', request: req(chat ? CHAT : TEXT, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(chat ? '{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}' : '{"prompt":"hi","max_tokens":2}')])), field: null, mustReject: false })),
  fc.constant<HttpCase>({ category: 'bytes', what: 'UTF-16LE body', request: req(TEXT, Buffer.from('{"prompt":"hi","max_tokens":2}', 'utf16le'), [['Content-Type', 'application/json; charset=utf-16']]), field: null, mustReject: true }),
  fc.constantFrom('\\ud800', '\\udfff', '\\ud83d\\u0041', '\\u0000').map((esc): HttpCase => ({ category: 'bytes', what: `escape ${esc} in the prompt`, request: req(TEXT, `{"prompt":"a${esc}b","max_tokens":2}`), field: 'prompt', mustReject: false })),
);

/** /tokenize, /detokenize, /v1/embeddings and /v1/responses (created, retrieved, listed, deleted): valid bodies, bad ids, and random JSON. */
const tokenizeCases: fc.Arbitrary<HttpCase> = fc.oneof(
  fc.record({ prompt, add_special_tokens: fc.option(fc.boolean(), { nil: undefined }) }, { requiredKeys: ['prompt'] }).map((b): HttpCase => ({ category: 'tokenize', what: 'tokenize a prompt', request: req('/tokenize', JSON.stringify(b)), field: null, mustReject: false })),
  fc.tuple(prompt, fc.option(fc.boolean(), { nil: undefined })).map(([content, gen]): HttpCase => ({ category: 'tokenize', what: 'tokenize messages', request: req('/tokenize', JSON.stringify({ messages: [{ role: 'user', content }], add_generation_prompt: gen })), field: null, mustReject: false })),
  fc.array(fc.integer({ min: -3, max: 300 }), { maxLength: 40 }).map((tokens): HttpCase => ({ category: 'tokenize', what: 'detokenize ids', request: req('/detokenize', JSON.stringify({ tokens })), field: tokens.some((t) => t < 0) ? 'tokens' : null, mustReject: tokens.some((t) => t < 0) })),
  fc.tuple(fc.array(prompt.filter((p) => p.length > 0), { minLength: 1, maxLength: 4 }), fc.option(fc.constantFrom('float', 'base64'), { nil: undefined })).map(([input, encoding_format]): HttpCase => ({ category: 'tokenize', what: 'embed texts', request: req('/v1/embeddings', JSON.stringify({ input, encoding_format })), field: null, mustReject: false })),
  fc.array(fc.integer({ min: -3, max: 300 }), { minLength: 1, maxLength: 20 }).map((tokens): HttpCase => ({ category: 'tokenize', what: 'embed ids', request: req('/v1/embeddings', JSON.stringify({ input: [tokens] })), field: tokens.some((t) => t < 0) ? 'input' : null, mustReject: tokens.some((t) => t < 0) })),
  fc.record({ input: prompt, max_output_tokens: fc.integer({ min: 1, max: 4 }), stream: fc.boolean(), temperature: fc.double({ min: 0, max: 2, noNaN: true }), instructions: fc.option(prompt, { nil: undefined }) }, { requiredKeys: ['input', 'max_output_tokens'] }).map((b): HttpCase => ({ category: 'tokenize', what: 'a response', request: req('/v1/responses', JSON.stringify(b)), field: null, mustReject: false })),
  fc.tuple(prompt, fc.constantFrom<[string, unknown, string]>(['max_output_tokens', 0, 'max_output_tokens'], ['previous_response_id', 'resp_1', 'previous_response_id'], ['truncation', 'auto', 'truncation'], ['input', [{ role: 'user', content: [{ type: 'input_image', image_url: 'x' }] }], 'input[0].content[0].type'], ['tools', [{ type: 'web_search' }], 'tools[0].type'], ['tool_choice', 'required', 'tool_choice'])).map(([input, [k, v, field]]): HttpCase => ({ category: 'tokenize', what: `a response with ${k} = ${JSON.stringify(v)}`, request: req('/v1/responses', JSON.stringify({ input, max_output_tokens: 2, [k]: v })), field, mustReject: true })),
  fc
    .tuple(fc.constantFrom('GET', 'DELETE'), fc.oneof(fc.constant('resp_1'), fc.string({ maxLength: 40 })), fc.constantFrom('', '/input_items'), fc.constantFrom('', '?limit=0', '?limit=7&order=asc', '?order=up', '?after=msg_x', '?stream=true', '?x=%00'))
    .map(([method, id, sub, query]): HttpCase => ({ category: 'tokenize', what: `${method} a stored response${sub}${query}`, request: req(`/v1/responses/${encodeURIComponent(id) || 'resp_'}${method === 'GET' ? sub : ''}${query}`, '', [JSON_CT], method), field: null, mustReject: false })),
  fc.record({ input: prompt, instructions: fc.option(prompt, { nil: undefined }) }, { requiredKeys: ['input'] }).map((b): HttpCase => ({ category: 'tokenize', what: 'count the input tokens of a response', request: req('/v1/responses/input_tokens', JSON.stringify(b)), field: null, mustReject: false })),
  fc.tuple(fc.constantFrom('/tokenize', '/detokenize', '/v1/embeddings', '/v1/responses', '/v1/responses/input_tokens'), fc.jsonValue({ maxDepth: 3 })).map(([path, v]): HttpCase => ({ category: 'tokenize', what: `random JSON to ${path}`, request: req(path, JSON.stringify(v)), field: null, mustReject: false })),
);

const ROUTES = [CHAT, TEXT, '/v1/models', '/health', '/ready', '/metrics', '/tokenize', '/detokenize', '/v1/embeddings', '/v1/responses', '/v1/models/x'];
const SMALL = '{"prompt":"Q: 1+1? A:","max_tokens":2}';
const transportCases: fc.Arbitrary<HttpCase> = fc.oneof(
  fc.tuple(fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'FOO', 'post'), fc.constantFrom(...ROUTES)).map(([method, path]): HttpCase => ({ category: 'transport', what: `${method} ${path}`, request: req(path, method === 'GET' || method === 'HEAD' ? '' : SMALL, [JSON_CT], method), field: null, mustReject: false })),
  fc.constantFrom(...ROUTES.slice(2)).map((path): HttpCase => ({ category: 'transport', what: `POST ${path}`, request: req(path, SMALL), field: null, mustReject: false })),
  fc.webPath().map((p): HttpCase => ({ category: 'transport', what: `POST ${p.slice(0, 60)}`, request: req(p || '/', SMALL), field: null, mustReject: false })),
  fc.constantFrom('/v1/%zz', '/v1/completions/../completions', '/v1//completions', '/v1/completions?x=%ff', '//', '/%00', `/${'a'.repeat(12000)}`).map((p): HttpCase => ({ category: 'transport', what: `POST ${p.slice(0, 40)}`, request: req(p, SMALL), field: null, mustReject: false })),
  fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', 'application/xml', '', '*/*; q=0.1').map((ct): HttpCase => ({ category: 'transport', what: `Content-Type: ${ct || '(empty)'}`, request: req(TEXT, SMALL, ct ? [['Content-Type', ct]] : []), field: null, mustReject: false })),
  fc.constant<HttpCase>({ category: 'transport', what: 'form-encoded body', request: req(TEXT, 'prompt=hi&max_tokens=2', [['Content-Type', 'application/x-www-form-urlencoded']]), field: null, mustReject: true }),
  fc.integer({ min: 17_000, max: 100_000 }).map((len): HttpCase => ({ category: 'transport', what: `header of ${len} bytes`, request: req(TEXT, SMALL, [JSON_CT, ['X-Big', 'a'.repeat(len)]]), field: null, mustReject: true })),
  fc.constantFrom<[string, string]>(['X-Bad', 'a\u0001b'], ['Bad Header', 'x'], ['X-Nul', 'a\u0000b'], ['Content-Length', '-1'], ['Content-Length', 'abc'], ['Transfer-Encoding', 'gzip'], ['Content-Length', '5']).map(([k, v]): HttpCase => ({ category: 'transport', what: `header ${JSON.stringify(k)}: ${JSON.stringify(v)}`, request: { method: 'POST', path: TEXT, headers: [JSON_CT, [k, v], ['Content-Length', String(SMALL.length)]], body: Buffer.from(SMALL) }, field: null, mustReject: true })),
  fc.constant<HttpCase>({ category: 'transport', what: 'Transfer-Encoding: chunked with a bad chunk size', request: { method: 'POST', path: TEXT, headers: [JSON_CT, ['Transfer-Encoding', 'chunked']], body: Buffer.from('zz\r\nabc\r\n0\r\n\r\n') }, field: null, mustReject: true }),
  fc.constant<HttpCase>({ category: 'transport', what: 'chunked and Content-Length together', request: { method: 'POST', path: TEXT, headers: [JSON_CT, ['Transfer-Encoding', 'chunked'], ['Content-Length', '4']], body: Buffer.from(`${SMALL.length.toString(16)}\r\n${SMALL}\r\n0\r\n\r\n`) }, field: null, mustReject: true }),
  fc.integer({ min: 1, max: SMALL.length - 1 }).map((at): HttpCase => ({ category: 'transport', what: `body cut at ${at} bytes, then half-close`, request: { ...req(TEXT, SMALL), truncateBodyAt: at }, halfClose: true, field: null, mustReject: true })),
  fc.integer({ min: 1, max: SMALL.length - 1 }).map((at): HttpCase => ({ category: 'transport', what: `Content-Length ${at} shorter than the body`, request: { method: 'POST', path: TEXT, headers: [JSON_CT, ['Content-Length', String(at)]], body: Buffer.from(SMALL) }, field: null, mustReject: true })),
  fc.tuple(fc.string({ unit: 'binary-ascii', maxLength: 300 }), fc.constantFrom('Authorization', 'x-skipserve-key', 'Accept', 'Accept-Encoding', 'Cookie')).map(([v, k]): HttpCase => ({ category: 'transport', what: `${k}: random ${v.length} chars`, request: req(TEXT, SMALL, [JSON_CT, [k, v.replace(/[\r\n]/g, ' ')]]), field: null, mustReject: false })),
  fc.integer({ min: 100, max: 1500 }).map((k): HttpCase => ({ category: 'transport', what: `${k} headers`, request: req(TEXT, SMALL, [JSON_CT, ...Array.from({ length: k }, (_, i): [string, string] => [`X-H${i}`, String(i)])]), field: null, mustReject: false })),
);

/** All HTTP cases, weighted; `count` of them drawn deterministically from `seed`. */
export function httpCases(l: FuzzLimits, count: number, seed: number): HttpCase[] {
  const arb = fc.oneof(
    { arbitrary: validBody.map((v): HttpCase => ({ category: 'valid', what: `valid ${v.path === CHAT ? 'chat' : 'completion'}${v.body.stream ? ' stream' : ''}`, request: req(v.path, JSON.stringify(v.body)), field: null, mustReject: false })), weight: 15 },
    { arbitrary: fieldCases(l), weight: 30 },
    { arbitrary: randomTypeCases, weight: 5 },
    { arbitrary: unknownFieldCases, weight: 5 },
    { arbitrary: limitCases(l), weight: 5 },
    { arbitrary: jsonCases, weight: 15 },
    { arbitrary: bytesCases, weight: 10 },
    { arbitrary: transportCases, weight: 15 },
    { arbitrary: tokenizeCases, weight: 5 },
  );
  return fc.sample(arb, { numRuns: count, seed });
}
