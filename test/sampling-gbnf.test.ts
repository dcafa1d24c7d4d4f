// GBNF grammars as guided decoding's regexes (src/sampling/guided/gbnf.ts): llama.cpp's JSON and
// arithmetic grammars match exactly the texts they derive (walked through the same lazy DFA the
// model worker guides with), recursion is unrolled GRAMMAR_RECURSION deep, and every grammar the
// guide cannot take is a GrammarError saying where (line:column) and why.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LazyDfa } from '../src/sampling/guided/dfa.ts';
import { GRAMMAR_RECURSION, GrammarError, grammarToRegex } from '../src/sampling/guided/gbnf.ts';
import { compileRegex } from '../src/sampling/guided/regex.ts';

/** Whether the grammar derives `text`, through the guide's own automaton. */
function derives(grammar: string): (text: string) => boolean {
  const dfa = new LazyDfa(compileRegex(grammarToRegex(grammar)));
  return (text) => dfa.accepting(dfa.walk(dfa.start, text));
}

// llama.cpp's grammars/json.gbnf, as published (comments, rules over several lines, escapes).
const JSON_GBNF = String.raw`
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

# Optional space: by convention, applied in this grammar after literal chars when allowed
ws ::= | " " | "\n" [ \t]{0,20}
`;

test("llama.cpp's JSON grammar: objects nested up to the recursion bound, and nothing that is not JSON", () => {
  const ok = derives(JSON_GBNF);
  for (const t of ['{}', '{"a": 1}', '{"a": [1, 2.5e3, "x\\n\\u00e9"], "b": {"c": null}}', '{\n  "k": true\n}', '{"é😀": -0}']) assert.ok(ok(t), t);
  for (const t of ['', '[1]', '{"a": 1', '{"a" 1}', "{'a': 1}", '{"a": 01x}', '{"a": "\u0001"}', '{} x']) assert.ok(!ok(t), t);
  // object -> value -> object: the object rule unrolled GRAMMAR_RECURSION deep.
  const nest = (d: number) => '{"a": '.repeat(d) + '1' + '}'.repeat(d);
  assert.equal(GRAMMAR_RECURSION, 3);
  assert.ok(ok(nest(3)));
  assert.ok(!ok(nest(4)), 'a fourth object inside the third is past the bound');
});

test('operators: alternation, grouping, * + ? and {m} {m,} {m,n} {,n}, classes, negation, any character, escapes', () => {
  const g = derives(String.raw`root ::= greeting " " name "!"{1,3} tail
greeting ::= "hi" | "hello" | "hey"
name ::= [A-Z] [a-z]{2,} ("-" [A-Z] [a-z]+)?
tail ::= ([0-9]{,2} | "\x41\u00e9\U0001F600") . [^a-z\]]* "\t"?`);
  for (const t of ['hi Bob!x', 'hey Anna-Lena!!!7x', 'hello Eve!!Aé😀zZ9Q', 'hi Bob!42 ', 'hi Bob!x\t', 'hi Bob!\n']) assert.ok(g(t), t);
  for (const t of ['hi Bob!', 'hi bob!x', 'hi Bo!x', 'hi Bob!!!!x', 'hi Bob!123x', 'ho Bob!x', 'hi Bob!1ab', 'hi Bob!x]']) assert.ok(!g(t), t);
  const arith = derives('root ::= expr "=" [0-9]+\nexpr ::= term (("+" | "-") term)*\nterm ::= [0-9]+ | "(" expr ")"');
  for (const t of ['1+2=3', '(1+(2-3))=0', '((4))=4']) assert.ok(arith(t), t);
  for (const t of ['1+=2', '(1=1', '(((4)))=4']) assert.ok(!arith(t), t);
  assert.ok(derives('root ::= "a" | ')(''), 'an empty alternative derives the empty text');
});

test('a grammar the guide cannot take is a GrammarError saying where and why', () => {
  const bad = (g: string, message: RegExp) => assert.throws(() => grammarToRegex(g), (e: Error) => e instanceof GrammarError && message.test(e.message), g);
  bad('rule ::= "a"', /no 'root' rule/);
  bad('root ::= "a" other', /^1:14: rule 'other' is not defined/);
  bad('root ::= "a"\nroot ::= "b"', /^2:1: rule 'root' is defined twice/);
  bad('root ::= "abc', /unterminated string literal/);
  bad('root ::= [abc', /unterminated character class/);
  bad('root ::= [z-a]', /range must run upwards/);
  bad('root ::= []', /empty character class/);
  bad('root ::= "a"{3,1}', /bounds must be ordered/);
  bad('root ::= "a"{2000}', /at most 1000/);
  bad('root ::= ("a" | "b"', /expected '\)'/);
  bad('root ::= "\\q"', /unknown escape \\q/);
  bad('root ::= "\\U00110000"', /past the last code point/);
  bad('root ::= <[42]>', /token references/);
  bad('root = "a"', /expected '::='/);
  bad('root ::= "a" @', /unexpected "@"/);
  // Rules referenced twice each, 30 deep: 2^30 copies written out.
  const doubling = ['root ::= r0', ...Array.from({ length: 30 }, (_, i) => `r${i} ::= r${i + 1} r${i + 1}`), 'r30 ::= "x"'].join('\n');
  bad(doubling, /more than 1000000 characters/);
});
