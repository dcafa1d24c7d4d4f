/**
 * Two solution paths (`data generate --alt-work P`): every rewritten equation still holds and
 * reaches the same result, the problems (question, answer, split) are those of the seed, the share
 * rewritten follows P, solutions stay within the length cap, and the CLI checks the flag.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { generateSplit } from '../models/train/generator/split.ts';
import type { Problem } from '../models/train/generator/problems.ts';
import { ALT_WORK_MAX_CHARS, altWork, placeValueWork, SIMPLE_EQUATION } from '../models/train/generator/alt-work.ts';

const evaluate = (expr: string): number => Function(`return (${expr})`)() as number;

test('place-value working: one operand split at its leading digit, every side equal', () => {
  assert.equal(placeValueWork(365, '*', 7, 2555), '365*7=300*7+65*7=2100+455=2555.');
  assert.equal(placeValueWork(6468, '/', 6, 1078), '6468/6=6000/6+468/6=1000+78=1078.');
  assert.equal(placeValueWork(1153, '+', 648, 1801), '1153+648=1153+600+48=1753+48=1801.');
  assert.equal(placeValueWork(9635, '-', 598, 9037), '9635-598=9635-500-98=9135-98=9037.');
  // nothing to split: a round operand, a one-digit quotient, small add/sub, a two-digit multiplier
  assert.equal(placeValueWork(300, '*', 7, 2100), null);
  assert.equal(placeValueWork(56, '/', 8, 7), null);
  assert.equal(placeValueWork(960, '-', 40, 920), null);
  assert.equal(placeValueWork(630, '*', 14, 8820), null);
});

test('rewritten solutions hold equation by equation, keep the problem, and follow the probability', () => {
  const plain = [...generateSplit({ split: 'train', seed: 21, count: 1500, tier: 'hard' })];
  let simple = 0;
  let rewritten = 0;
  for (const p of plain) {
    const alt = altWork(p.id, p.solution, 0.5);
    assert.equal(altWork(p.id, p.solution, 0.5), alt, 'deterministic per problem');
    assert.equal(altWork(p.id, p.solution, 0), p.solution);
    assert.ok(alt.length <= Math.max(ALT_WORK_MAX_CHARS, p.solution.length), `${alt.length} characters`);
    assert.ok(alt.endsWith(`The answer is ${p.answer}.`));
    const before = p.solution.split(' ');
    const after = alt.split(' ');
    assert.equal(after.length, before.length);
    before.forEach((piece, i) => {
      if (!SIMPLE_EQUATION.test(piece)) return assert.equal(after[i], piece);
      simple++;
      if (after[i] === piece) return;
      rewritten++;
      const sides = after[i]!.replace(/\.$/, '').split('=');
      assert.equal(sides[0], piece.split('=')[0], 'the equation starts as before');
      assert.equal(sides.at(-1), piece.replace(/\.$/, '').split('=')[1], 'and ends at the same result');
      for (const side of sides) assert.equal(evaluate(side), evaluate(sides[0]!), after[i]);
    });
  }
  const share = rewritten / simple;
  assert.ok(share > 0.15 && share < 0.35, `share rewritten ${share}`);
});

test('the CLI rewrites only the solution and names a bad --alt-work', () => {
  const args = ['bin/skipserve.mjs', 'data', 'generate', '--split', 'train', '--seed', '4', '--count', '40', '--tier', 'hard'];
  const rows = execFileSync('node', [...args, '--alt-work', '0.5'], { encoding: 'utf8' }).trim().split('\n').map((l) => JSON.parse(l) as Problem);
  const plain = [...generateSplit({ split: 'train', seed: 4, count: 40, tier: 'hard' })];
  assert.deepEqual(rows, plain.map((p) => ({ ...p, solution: altWork(p.id, p.solution, 0.5) })));
  assert.ok(rows.some((r, i) => r.solution !== plain[i]!.solution));
  assert.throws(
    () => execFileSync('node', [...args, '--alt-work', '2'], { encoding: 'utf8', stdio: 'pipe' }),
    (e: { stderr: string }) => e.stderr.includes('--alt-work must be a probability in [0, 1]'),
  );
});
