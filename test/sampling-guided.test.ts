// Guided decoding's parts: the regex engine against JavaScript's RegExp (full match), JSON Schema
// patterns against JSON texts, and the token guide over a real tokenizer's vocabulary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileRegex, escapeRegex, RegexError } from '../src/sampling/guided/regex.ts';
import { DEAD, LazyDfa } from '../src/sampling/guided/dfa.ts';
import { anyJsonObject, MAX_RECURSION, SchemaError, schemaToRegex } from '../src/sampling/guided/json-schema.ts';
import { checkedPattern, schemaPattern } from '../src/engine/guided-request.ts';
import { InvalidRequestError } from '../src/errors.ts';
import { TokenGuide, TokenTexts } from '../src/sampling/guided/token-guide.ts';
import { vocabTexts } from '../src/sampling/guided/vocab-texts.ts';
import { TextTokenizer } from '../src/text/tokenizer.ts';
import { codePointRange, utf8Split } from '../src/sampling/guided/utf8.ts';

const fullMatch = (pattern: string) => {
  const dfa = new LazyDfa(compileRegex(pattern));
  return (s: string) => dfa.accepting(dfa.walk(dfa.start, s));
};

const PATTERNS = [
  'a*b', '(ab|c)+', 'a{2,3}', 'x?y{2}', '[a-c]+d', '[^a]*', '\\d{1,3}(,\\d{3})*', '(a|b)*abb', '((a|b){2}){2}', 'a{0,2}b{1,}',
  '.*', '(?:ab)?c', 'a{3}', '[\\w-]+', 'a|', '(|a)b', '(a*)*b', '(a+|b+)*c?', '[a\\]b]+', '\\.\\*x', '(?<n>ab)+', 'a+?b', '(?:a{2}){2}', '^ab$', '[\\d.]+', '[^\\d\\s]+', 'a{,2}', '\\s+\\S', '\\w*\\W?', '[^\\w]+',
  // Bounded repeats of groups that hold alternations and other repeats (each copy is the group's states copied).
  '(a|bc*){2,3}d', '((ab)?c{1,2}){2}', '(x(y|z){1,2}){0,2}', '([^a]b{2,}){1,2}', '((a|b)+c){2}',
];

test('regex: full matches agree with RegExp on random strings', () => {
  for (const p of PATTERNS) {
    const ours = fullMatch(p);
    const js = new RegExp(`^(?:${p.replace(/^\^/, '').replace(/\$$/, '')})$`);
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'd', 'x', 'y', '1', '2', ',', '.', '-', ' ', ']', '*', '{', '}', '\n', '\u3000', '\u00e9', '_'), maxLength: 12 }), (s) => {
        assert.equal(ours(s), js.test(s), `pattern ${p} on ${JSON.stringify(s)}`);
      }),
      { numRuns: 300 },
    );
  }
});

test('regex: characters are code points, as RegExp\'s u mode (and Python\'s re) read them: an emoji is one atom, never half of one', () => {
  const ASTRAL = ['😀{2}', '[😀-😂]+', '[^😀]*', '.{3}', '(a|😀)+b?', '[a😀]{1,2}', '\\uD83D\\uDE00+', '[^a]+', '\\S+', '\\D*', '😀?', '[^\\d😁]{2,}', '[𝄞-😀]', '[\\w𝄞]+'];
  for (const p of ASTRAL) {
    const ours = fullMatch(p);
    const js = new RegExp(`^(?:${p})$`, 'u');
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', '1', 'é', '\n', '😀', '😁', '😂', '😃', '𝄞', '\u{10ffff}'), { maxLength: 6 }), (cs) => {
        const s = cs.join('');
        assert.equal(ours(s), js.test(s), `pattern ${p} on ${JSON.stringify(s)}`);
      }),
      { numRuns: 300 },
    );
  }
  const s2 = new LazyDfa(compileRegex(schemaToRegex({ type: 'string', maxLength: 2 })));
  assert.ok(s2.accepting(s2.walk(s2.start, '"😀😀"')), 'JSON Schema lengths count code points');
  assert.ok(!s2.accepting(s2.walk(s2.start, '"😀😀😀"')));
});

test('regex: a live DFA state means some continuation matches (prefixes of matches stay alive)', () => {
  const p = '\\d{2,3}-[a-z]+(\\.[a-z]+)?';
  const dfa = new LazyDfa(compileRegex(p));
  for (const m of ['12-ab', '123-x.yz']) for (let i = 0; i <= m.length; i++) assert.notEqual(dfa.walk(dfa.start, m.slice(0, i)), DEAD, m.slice(0, i));
  assert.equal(dfa.walk(dfa.start, '1a'), DEAD);
  assert.equal(dfa.walk(dfa.start, '1234'), DEAD);
});

test('regex: what the engine cannot take is refused, saying why', () => {
  for (const [p, why] of [['(a', /missing \)/], ['a)', /unbalanced/], ['*a', /nothing to repeat/], ['a{3,2}', /maximum below/], ['(a)\\1', /backreferences/], ['(?=a)', /lookaround/], ['a\\b', /word boundaries/], ['a^b', /anchor/], ['[a', /missing \]/], ['a{2000}', /above 1000/], ['a{2}{2}', /nothing to repeat/], ['a**', /nothing to repeat/]] as const) {
    assert.throws(() => compileRegex(p), (e: Error) => e instanceof RegexError && why.test(e.message), p);
  }
  assert.ok(fullMatch(escapeRegex('a.b*(c)[d]{e}|f/g-h\\'))('a.b*(c)[d]{e}|f/g-h\\'));
});

test('json schema: a recursive $ref is unrolled MAX_RECURSION deep (trees, lists end where they must); one that never ends is refused', () => {
  const tree = { type: 'object', properties: { v: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#' } } }, required: ['v'] };
  const ok = fullMatch(schemaToRegex(tree));
  const nest = (depth: number): unknown => (depth === 0 ? { v: 0 } : { v: depth, kids: [nest(depth - 1), { v: 9 }] });
  for (let d = 0; d <= MAX_RECURSION; d++) assert.ok(ok(JSON.stringify(nest(d))), `depth ${d}`);
  assert.ok(!ok(JSON.stringify(nest(MAX_RECURSION + 1))), 'one level past the bound');
  const list = { $defs: { node: { type: 'object', properties: { v: { type: 'integer' }, next: { anyOf: [{ $ref: '#/$defs/node' }, { type: 'null' }] } }, required: ['v', 'next'] } }, $ref: '#/$defs/node' };
  const okList = fullMatch(schemaToRegex(list));
  assert.ok(okList('{"v":1,"next":{"v":2,"next":null}}'));
  assert.ok(!okList('{"v":1,"next":{"v":2}}'));
  const endless = { type: 'object', properties: { next: { $ref: '#' } }, required: ['next'] };
  assert.throws(() => checkedPattern(schemaPattern(endless, 'guidedJson'), 'guidedJson'), (e: InvalidRequestError) => e.field === 'guidedJson' && /matches no text/.test(e.message));
  assert.throws(() => checkedPattern('[^\\s\\S]', 'guidedRegex'), /matches no text/);
});

test('json schema: the pattern matches the JSON texts of the shape and nothing else', () => {
  const schema = {
    type: 'object',
    properties: { name: { type: 'string', maxLength: 5 }, age: { type: 'integer' }, tags: { type: 'array', items: { enum: ['a', 'b'] }, maxItems: 2 }, ok: { type: ['boolean', 'null'] }, pt: { $ref: '#/$defs/pt' } },
    required: ['name', 'age'],
    $defs: { pt: { type: 'object', properties: { x: { type: 'number' } }, required: ['x'] } },
  };
  const ok = fullMatch(schemaToRegex(schema));
  for (const v of [{ name: 'bo', age: 3 }, { name: '', age: -12, tags: [] }, { name: 'abcde', age: 0, tags: ['a', 'b'], ok: null }, { name: 'q"', age: 1, ok: true, pt: { x: -1.5e3 } }, { name: 'z', age: 7, pt: { x: 2 } }]) {
    assert.ok(ok(JSON.stringify(v)), JSON.stringify(v));
  }
  assert.ok(ok('{"name": "a", "age": 1}'), 'one space after : and , is allowed');
  for (const s of ['{"age":1,"name":"a"}', '{"name":"a"}', '{"name":"abcdef","age":1}', '{"name":"a","age":1.5}', '{"name":"a","age":1,"tags":["c"]}', '{"name":"a","age":1,"tags":["a","a","a"]}', '{"name":"a","age":1,"extra":1}', '{"name":"a","age":01}']) {
    assert.ok(!ok(s), s);
  }
  const none = fullMatch(schemaToRegex({ type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } } }));
  for (const s of ['{}', '{"a":1}', '{"b":2}', '{"a":1,"b":2}']) assert.ok(none(s), s);
  assert.ok(!none('{,"b":2}') && !none('{"b":2,"a":1}'));
  const obj = fullMatch(anyJsonObject());
  for (const s of ['{}', '{"a":[1,{"b":null}],"c":"d"}', '{"a": {"b": {"c": 1}}}']) assert.ok(obj(s), s);
  for (const s of ['[]', '{"a":}', '{"a":1,}', 'null']) assert.ok(!obj(s), s);
  assert.throws(() => schemaToRegex({ type: 'object', properties: { a: { type: 'foo' } } }), (e: Error) => e instanceof SchemaError && /properties\.a\.type/.test(e.message));
  assert.throws(() => checkedPattern(schemaPattern({ $ref: '#/$defs/x', $defs: { x: { $ref: '#/$defs/x' } } }, 'guidedJson'), 'guidedJson'), /matches no text/, 'a reference to itself alone describes nothing');
  assert.throws(() => schemaToRegex({ type: 'string', format: 'email', if: {} }), /schema\.if/);
});

test('token guide: only tokens that keep a match possible, end of sequence once complete', () => {
  const texts = ['<eos>', 'a', 'b', 'ab', 'ba', 'c', '1', '12', ' '].map((t, i) => (i === 0 ? null : t));
  const guide = new TokenGuide('(ab)+1', new TokenTexts(texts, [0]));
  const names = (ids: Int32Array) => [...ids].map((i) => (i === 0 ? '<eos>' : texts[i]));
  assert.deepEqual(names(guide.allowed(guide.start)), ['a', 'ab']);
  let d = guide.advance(guide.start, 3); // "ab"
  assert.deepEqual(names(guide.allowed(d)), ['a', 'ab', '1']);
  d = guide.advance(d, 6); // "ab1": complete, nothing may follow
  assert.ok(guide.complete(d));
  assert.deepEqual(names(guide.allowed(d)), ['<eos>']);
  const logits = Float32Array.from([5, 1, 9, 2, 3, 4, 0, 0, 0]);
  guide.maskInPlace(guide.start, logits);
  assert.equal(logits[1], 1);
  assert.equal(logits[3], 2);
  assert.ok(logits[2]! < -9000 && logits[0]! < -9000, 'disallowed tokens pushed far below');
});

test('vocabulary texts: SentencePiece-style leading spaces kept, special tokens excluded (default model tokenizer)', () => {
  const tok = TextTokenizer.load('models/default');
  const v = vocabTexts(tok, 384, [2]);
  for (const id of tok.specialIds) assert.equal(v.texts[id], null);
  const ids = tok.encode('The answer is 42.', false);
  assert.equal(ids.map((i) => v.texts[i]).join(''), 'The answer is 42.');
  const guide = new TokenGuide(' The answer is \\d+\\.', v);
  let d: ReturnType<typeof guide.advance> = guide.start;
  for (const id of tok.encode(' The answer is 7.', false)) {
    assert.ok(guide.allowed(d).includes(id), `token ${JSON.stringify(v.texts[id])} allowed`);
    d = guide.advance(d, id);
  }
  assert.deepEqual([...guide.allowed(d)], [2]);
});

test('lazy DFA: a pattern with an exponential DFA keeps at most its state budget and still matches right', () => {
  const p = '(a|b)*a(a|b){20}';
  const dfa = new LazyDfa(compileRegex(p));
  const js = new RegExp(`^(?:${p})$`);
  let x = 1;
  const rnd = () => (x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  let held = dfa.start; // a state held across resets stays usable
  for (let i = 0; i < 3000; i++) {
    const s = Array.from({ length: 30 + Math.floor(rnd() * 20) }, () => (rnd() < 0.5 ? 'a' : 'b')).join('');
    assert.equal(dfa.accepting(dfa.walk(dfa.start, s)), js.test(s), s);
    assert.ok(dfa.size() <= 20_000);
    if (i === 10) held = dfa.walk(dfa.start, 'ab')!;
  }
  assert.equal(dfa.accepting(dfa.walk(held, 'a'.repeat(21))), true);
});

test('utf8: splitting bytes agrees with TextDecoder; a tail\'s ranges hold exactly the characters it can become', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 }), (bytes) => {
      const r = utf8Split(bytes);
      const strict = (b: number[]) => {
        try {
          return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(b));
        } catch {
          return null;
        }
      };
      if (r === null) return; // invalid somewhere: no complete decoding of any extension either (checked below for valid ones)
      assert.equal(strict(bytes.slice(0, bytes.length - r.tail.length)), r.text);
    }),
    { numRuns: 2000 },
  );
  for (const ch of ['é', '€', '😀', '\u{10FFFF}', '\uE000', '\uD7FF']) {
    const b = [...new TextEncoder().encode(ch)];
    for (let k = 1; k < b.length; k++) {
      const ranges = codePointRange(b.slice(0, k))!;
      assert.ok(ranges.some(([lo, hi]) => ch.codePointAt(0)! >= lo && ch.codePointAt(0)! <= hi), `${ch} within the ranges of its first ${k} bytes`);
    }
  }
  assert.equal(codePointRange([0xed, 0xa0]), null, 'ED A0..: surrogates only');
  assert.deepEqual(codePointRange([0xed]), [[0xd000, 0xd7ff]]);
});

test('byte pieces: walks over the allowed tokens never dead-end and always spell a full match', () => {
  // Every byte as a piece (as byte-level BPE has them), plus a few whole tokens.
  const pieces = new Map<number, Uint8Array>();
  const texts: (string | null)[] = [null, 'a', 'b', 'ab'];
  for (let b = 0x80; b < 0x100; b++) pieces.set(texts.length + b - 0x80, Uint8Array.of(b));
  texts.length += 128;
  const vocab = new TokenTexts(texts, [0], pieces);
  const pattern = '(é|€|😀|😁|\u00ff|ab)+';
  const guide = new TokenGuide(pattern, vocab);
  const js = new RegExp(`^(?:${pattern})$`, 'u');
  let x = 5;
  const rnd = () => (x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let run = 0; run < 300; run++) {
    let s = guide.start;
    const bytes: number[] = [];
    for (let step = 0; step < 40; step++) {
      const allowed = [...guide.allowed(s)];
      assert.ok(allowed.length > 0);
      const t = allowed[Math.floor(rnd() * allowed.length)]!;
      if (t === 0) {
        assert.ok(guide.complete(s), 'end of sequence only once the text matches');
        break;
      }
      bytes.push(...(pieces.get(t) ?? new TextEncoder().encode(texts[t]!)));
      s = guide.advance(s, t);
      assert.notEqual(s.d, null, 'an allowed token never leads to a dead end');
    }
    if (guide.complete(s)) assert.match(new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes)), js);
  }
});
