/**
 * What the gRPC fuzzer sends, as raw protobuf bytes generated with fast-check: cheap valid
 * requests, out-of-range and wrong values per field, unknown fields of every wire type, known
 * fields with the wrong wire type, truncated and random bytes, deeply nested unknown groups,
 * invalid UTF-8 in strings, and oversized messages. Each case names the field at fault, if any.
 */
import { join } from 'node:path';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { REPO_ROOT } from './server-process.ts';
import { KNOWN_POLICIES, type FuzzLimits } from './fuzz-http-cases.ts';

export type GrpcMethod = 'Generate' | 'GenerateStream' | 'ListPolicies' | 'GetModel';

export interface GrpcCase {
  category: 'valid' | 'field' | 'unknown-field' | 'wire-type' | 'bytes' | 'limit' | 'oversized';
  what: string;
  method: GrpcMethod;
  bytes: Buffer;
  /** Field at fault in wire form; an INVALID_ARGUMENT's details must name it. */
  field: string | null;
  /** An OK answer is a failure. */
  mustReject: boolean;
}

let cachedType: protobuf.Type | null = null;
/** skipserve.v1.GenerateRequest from the repository's proto. */
export function requestType(): protobuf.Type {
  cachedType ??= new protobuf.Root().loadSync(join(REPO_ROOT, 'proto', 'skipserve', 'v1', 'inference.proto'), { keepCase: true }).lookupType('skipserve.v1.GenerateRequest');
  return cachedType;
}

type Msg = Record<string, unknown>;
const encode = (m: Msg): Buffer => {
  const T = requestType();
  return Buffer.from(T.encode(T.fromObject(m)).finish());
};

const prompt = fc.oneof(fc.constantFrom('Q: 2+3? A:', 'Tom has 3 apples. How many?', 'hi'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }));
const validMsg: fc.Arbitrary<Msg> = fc
  .record({
    chat: fc.boolean(),
    prompt,
    n: fc.integer({ min: 1, max: 2 }),
    max_tokens: fc.integer({ min: 1, max: 4 }),
    temperature: fc.double({ min: 0, max: 2, noNaN: true }),
    seed: fc.nat({ max: 1e9 }),
    stop: fc.array(fc.string({ maxLength: 6 }).filter((s) => s.length > 0), { maxLength: 3 }),
    skip: fc.option(fc.oneof(fc.constant({ policy: 'none' }), fc.record({ policy: fc.constant('random-heads'), k: fc.integer({ min: 0, max: 2 }) }), fc.record({ policy: fc.constant('explicit'), plan: fc.record({ skip_mlp: fc.uniqueArray(fc.integer({ min: 0, max: 5 }), { maxLength: 2 }) }) })), { nil: undefined }),
  })
  .map(({ chat, prompt: p, skip, ...rest }) => ({ ...(chat ? { messages: [{ role: 'user', content: p }] } : { prompt: p }), ...rest, ...(skip ? { skip } : {}) }));

interface Mutation {
  param: string;
  apply: (m: Msg, v: any) => void;
  values: fc.Arbitrary<unknown>;
}

const set = (key: string) => (m: Msg, v: unknown) => void (m[key] = v);
const setSkip = (key: string, policy?: string) => (m: Msg, v: unknown) => void (m.skip = policy ? { policy, [key]: v } : { ...(m.skip as Msg | undefined), [key]: v });

function mutations(l: FuzzLimits): Mutation[] {
  const u32 = fc.constantFrom(2 ** 32 - 1, 2 ** 31, 1e9);
  return [
    { param: 'n', apply: set('n'), values: fc.oneof(fc.constant(0), fc.integer({ min: l.maxBatch + 1, max: 1e6 }), u32) },
    { param: 'best_of', apply: (m, v) => Object.assign(m, { n: 2, best_of: v }), values: fc.oneof(fc.constant(1), fc.integer({ min: l.maxBatch + 1, max: 1e6 }), u32) },
    { param: 'max_tokens', apply: set('max_tokens'), values: fc.oneof(fc.constant(0), fc.integer({ min: l.context, max: 1e7 }), u32) },
    { param: 'temperature', apply: set('temperature'), values: fc.oneof(fc.constantFrom(NaN, Infinity, -Infinity), fc.double({ min: -1e6, max: -1e-6, noNaN: true }), fc.double({ min: 2.0001, max: 1e300, noNaN: true })) },
    { param: 'top_p', apply: set('top_p'), values: fc.oneof(fc.constantFrom(0, NaN, Infinity, -1), fc.double({ min: 1.0001, max: 1e9, noNaN: true })) },
    { param: 'seed', apply: set('seed'), values: fc.constantFrom(2 ** 53 + 2, 2 ** 63, 2 ** 64 - 1) },
    { param: 'stop', apply: set('stop'), values: fc.array(fc.string({ minLength: 1, maxLength: 3 }), { minLength: 17, maxLength: 60 }) },
    { param: 'stop', apply: set('stop'), values: fc.integer({ min: 1000, max: 20000 }).map((n) => ['x'.repeat(n)]) },
    { param: 'top_logprobs', apply: (m, v) => Object.assign(m, { logprobs: true, top_logprobs: v }), values: fc.oneof(fc.integer({ min: 21, max: 1e6 }), u32) },
    { param: 'top_logprobs', apply: (m, v) => Object.assign(m, { logprobs: false, top_logprobs: v }), values: fc.integer({ min: 0, max: 20 }) },
    { param: 'model', apply: set('model'), values: fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== 'default') },
    { param: 'messages[0].role', apply: (m, v) => Object.assign(m, { prompt: '', messages: [{ role: v, content: 'hi' }] }), values: fc.string({ maxLength: 10 }).filter((s) => !['system', 'user', 'assistant', 'developer'].includes(s)) },
    { param: 'prompt', apply: (m) => Object.assign(m, { prompt: '', messages: [] }), values: fc.constant(null) },
    { param: 'echo', apply: (m) => Object.assign(m, { prompt: '', messages: [{ role: 'user', content: 'hi' }], echo: true }), values: fc.constant(true) },
    { param: 'messages', apply: (m, v) => Object.assign(m, { prompt: v, messages: [{ role: 'user', content: 'hi' }] }), values: fc.string({ minLength: 1, maxLength: 5 }) },
    { param: 'prompt', apply: (m, v) => Object.assign(m, { messages: [], prompt: v }), values: fc.integer({ min: 4 * l.context, max: l.hugeChars }).map((n) => 'ab '.repeat(n).slice(0, n)) },
    { param: 'guided_regex', apply: set('guided_regex'), values: fc.constantFrom('(', '[a', 'a{3,1}', '(?=a)', 'a**', 'a{2000}') },
    { param: 'guided_json', apply: set('guided_json'), values: fc.constantFrom('{', '[1]', '{"type":"date"}', '{"if":{}}') },
    { param: 'guided_grammar', apply: set('guided_grammar'), values: fc.constantFrom('root ::= x', 'root ::= "a', 'r ::= "a"', 'root ::= [z-a]', 'root ::= <[1]>') },
    { param: 'guided_choice', apply: (m, v) => Object.assign(m, { guided_regex: 'a+', guided_choice: v }), values: fc.constant(['x']) },
    { param: 'repetition_penalty', apply: set('repetition_penalty'), values: fc.oneof(fc.constantFrom(0, NaN, Infinity, -1), fc.double({ min: 10.0001, max: 1e9, noNaN: true })) },
    { param: 'stop_token_ids', apply: set('stop_token_ids'), values: fc.oneof(fc.array(fc.integer({ min: l.vocab, max: 2 ** 31 }), { minLength: 1, maxLength: 2 }), fc.array(fc.nat({ max: l.vocab - 1 }), { minLength: 65, maxLength: 70 })) },
    { param: 'min_tokens', apply: (m, v) => Object.assign(m, { max_tokens: 4, min_tokens: v }), values: fc.integer({ min: 5, max: 1e6 }) },
    { param: 'length_penalty', apply: (m, v) => Object.assign(m, { use_beam_search: false, length_penalty: v }), values: fc.double({ min: -2, max: 2, noNaN: true }) },
    { param: 'length_penalty', apply: (m, v) => Object.assign(m, { use_beam_search: true, length_penalty: v }), values: fc.oneof(fc.constantFrom(NaN, Infinity), fc.double({ min: 100.01, max: 1e300, noNaN: true })) },
    { param: 'skip.policy', apply: (m) => Object.assign(m, { use_beam_search: true, n: 2, skip: { policy: 'random-heads', k: 2 } }), values: fc.constant(null) },
    { param: 'truncate_prompt_tokens', apply: set('truncate_prompt_tokens'), values: fc.constant(0) },
    { param: 'allowed_token_ids', apply: set('allowed_token_ids'), values: fc.array(fc.integer({ min: l.vocab, max: 2 ** 31 }), { minLength: 1, maxLength: 2 }) },
    { param: 'bad_words', apply: set('bad_words'), values: fc.oneof(fc.constant(['']), fc.constant(['   ']), fc.array(fc.constant('w'), { minLength: 65, maxLength: 70 })) },
    { param: 'continue_final_message', apply: (m) => Object.assign(m, { messages: [], prompt: 'hi', continue_final_message: true }), values: fc.constant(true) },
    { param: 'skip.policy', apply: setSkip('policy'), values: fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !KNOWN_POLICIES.includes(s)) },
    { param: 'skip.core_fraction', apply: setSkip('core_fraction', 'sub-networks'), values: fc.oneof(fc.constantFrom(NaN, Infinity, -1, 0), fc.double({ min: 0.6001, max: 1e9, noNaN: true })) },
    { param: 'skip.k', apply: setSkip('k', 'random-heads'), values: fc.oneof(u32, fc.integer({ min: l.layers * l.heads + 1, max: 1e6 })) },
    { param: 'skip.target_speedup', apply: setSkip('target_speedup', 'latency-budget'), values: fc.oneof(fc.constantFrom(NaN, Infinity, 0, -1), fc.double({ min: 100.01, max: 1e9, noNaN: true })) },
    { param: 'skip.select', apply: setSkip('select'), values: fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !['vote', 'weighted', 'logprob', 'none'].includes(s)) },
    { param: 'skip.answer_pattern', apply: setSkip('answer_pattern'), values: fc.oneof(fc.constantFrom('(', '[', '*', 'a{2,1}'), fc.string({ minLength: 501, maxLength: 800 })) },
    { param: 'skip.plan', apply: setSkip('plan', 'explicit'), values: fc.oneof(fc.record({ skip_layers: fc.array(fc.integer({ min: l.layers, max: 2 ** 31 }), { minLength: 1, maxLength: 3 }) }), fc.record({ skip_attention: fc.array(fc.integer({ min: l.layers, max: 1e6 }), { minLength: 1, maxLength: 2 }) }), fc.record({ mask_heads: fc.dictionary(fc.constantFrom('0', '1', '99', '4000000000'), fc.record({ heads: fc.array(fc.integer({ min: l.heads, max: 2 ** 31 }), { minLength: 1, maxLength: 3 }) }), { minKeys: 1, maxKeys: 2 }) })) },
    { param: 'skip.plans', apply: (m, v) => Object.assign(m, { n: 1, skip: { policy: 'explicit', plans: v } }), values: fc.array(fc.constant({}), { minLength: 2, maxLength: 5 }) },
  ];
}

/** Wire helpers for hand-made protobuf. */
const W = () => protobuf.Writer.create();
const tag = (field: number, wire: number) => ((field << 3) | wire) >>> 0;

const unknownField = fc.tuple(fc.integer({ min: 16, max: 2 ** 29 - 1 }), fc.constantFrom(0, 1, 2, 5), fc.uint8Array({ maxLength: 40 }), fc.nat()).map(([field, wire, bytes, n]) => {
  const w = W().uint32(tag(field, wire));
  if (wire === 0) w.uint64(n);
  else if (wire === 1) w.fixed64(n);
  else if (wire === 2) w.bytes(bytes);
  else w.fixed32(n);
  return { field, wire, bytes: Buffer.from(w.finish()) };
});

function fieldCases(l: FuzzLimits): fc.Arbitrary<GrpcCase> {
  const all = mutations(l);
  // One in eight goes to GenerateStream: its error path must end the stream with the status too.
  return fc.tuple(validMsg, fc.nat({ max: all.length - 1 }), fc.nat({ max: 7 })).chain(([m, i, s]) =>
    all[i]!.values.map((v): GrpcCase => {
      const msg = structuredClone(m);
      all[i]!.apply(msg, v);
      const shown = typeof v === 'string' && v.length > 40 ? `${v.length} chars` : JSON.stringify(v)?.slice(0, 60);
      return { category: all[i]!.param === 'prompt' && typeof v === 'string' ? 'limit' : 'field', what: `${all[i]!.param} = ${shown}`, method: s === 0 ? 'GenerateStream' : 'Generate', bytes: encode(msg), field: all[i]!.param, mustReject: true };
    }),
  );
}

const method = fc.constantFrom<GrpcMethod>('Generate', 'GenerateStream');
const validCases = fc.tuple(validMsg, method).map(([m, meth]): GrpcCase => ({ category: 'valid', what: `valid ${meth}${m.messages ? ' chat' : ''}`, method: meth, bytes: encode(m), field: null, mustReject: false }));

const unknownCases = fc.tuple(validMsg, fc.array(unknownField, { minLength: 1, maxLength: 4 })).map(([m, extra]): GrpcCase => ({
  category: 'unknown-field',
  what: `unknown fields ${extra.map((e) => `${e.field}/wire${e.wire}`).join(', ')}`,
  method: 'Generate',
  bytes: Buffer.concat([encode({ ...m, stream: undefined }), ...extra.map((e) => e.bytes)]),
  field: null,
  mustReject: false,
}));

/** Known fields (n=4 varint, prompt=2 string, temperature=6 double, skip=13 message) with another wire type. */
const wireTypeCases = fc.tuple(validMsg, fc.constantFrom([4, 2], [4, 5], [2, 0], [6, 0], [6, 2], [13, 0], [9, 2], [3, 0]), fc.uint8Array({ maxLength: 16 }), fc.nat()).map(([m, [field, wire], bytes, n]): GrpcCase => {
  const w = W().uint32(tag(field!, wire!));
  if (wire === 0) w.uint64(n);
  else if (wire === 2) w.bytes(bytes);
  else if (wire === 5) w.fixed32(n);
  return { category: 'wire-type', what: `field ${field} sent as wire type ${wire}`, method: 'Generate', bytes: Buffer.concat([encode(m), Buffer.from(w.finish())]), field: null, mustReject: false };
});

const bytesCases: fc.Arbitrary<GrpcCase> = fc.oneof(
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.constantFrom<GrpcMethod>('Generate', 'GenerateStream', 'ListPolicies', 'GetModel')).map(([b, meth]): GrpcCase => ({ category: 'bytes', what: `${b.length} random bytes to ${meth}`, method: meth, bytes: Buffer.from(b), field: null, mustReject: false })),
  fc.tuple(validMsg, fc.double({ min: 0.05, max: 0.95, noNaN: true })).map(([m, at]): GrpcCase => {
    const b = encode(m);
    const cut = Math.max(1, Math.floor(at * b.length));
    return { category: 'bytes', what: `message cut at ${cut}/${b.length} bytes`, method: 'Generate', bytes: b.subarray(0, cut), field: null, mustReject: false };
  }),
  fc.constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf0, 0x9f]).map((bad): GrpcCase => {
    const text = Buffer.concat([Buffer.from('Q: 2+'), Buffer.from(bad), Buffer.from('3? A:')]);
    const body = Buffer.concat([Buffer.from(W().uint32(tag(2, 2)).bytes(text).finish()), Buffer.from(W().uint32(tag(5, 0)).uint32(2).finish())]);
    return { category: 'bytes', what: `invalid UTF-8 ${bad.map((x) => x.toString(16)).join(' ')} in prompt`, method: 'Generate', bytes: body, field: 'prompt', mustReject: false };
  }),
  fc.integer({ min: 100, max: 20000 }).map((d): GrpcCase => {
    // Unknown field 100 as nested start-group / end-group pairs (wire types 3 and 4), d deep.
    const start = Buffer.from(W().uint32(tag(100, 3)).finish());
    const end = Buffer.from(W().uint32(tag(100, 4)).finish());
    const prompt = Buffer.from(W().uint32(tag(2, 2)).string('hi').finish());
    return { category: 'bytes', what: `unknown group nested ${d} deep`, method: 'Generate', bytes: Buffer.concat([prompt, ...Array(d).fill(start), ...Array(d).fill(end)]), field: null, mustReject: false };
  }),
  fc.integer({ min: 1, max: 2 ** 28 }).map((len): GrpcCase => ({ category: 'bytes', what: `prompt length prefix ${len} past the end`, method: 'Generate', bytes: Buffer.concat([Buffer.from(W().uint32(tag(2, 2)).uint32(len).finish()), Buffer.from('abc')]), field: null, mustReject: false })),
);

const MB = 1024 * 1024;
const oversizedCases = fc.integer({ min: 4 * MB + 1, max: 6 * MB }).map((len): GrpcCase => ({ category: 'oversized', what: `${(len / MB).toFixed(1)} MiB message`, method: 'Generate', bytes: encode({ prompt: 'a'.repeat(len), max_tokens: 1 }), field: null, mustReject: true }));

/** All gRPC cases, weighted; `count` of them drawn deterministically from `seed`. */
export function grpcCases(l: FuzzLimits, count: number, seed: number): GrpcCase[] {
  const arb = fc.oneof(
    { arbitrary: validCases, weight: 20 },
    { arbitrary: fieldCases(l), weight: 40 },
    { arbitrary: unknownCases, weight: 10 },
    { arbitrary: wireTypeCases, weight: 10 },
    { arbitrary: bytesCases, weight: 18 },
    { arbitrary: oversizedCases, weight: 1 },
  );
  return fc.sample(arb, { numRuns: count, seed });
}
