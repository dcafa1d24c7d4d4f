/**
 * Net-change working (`data generate --delta-work P`): runs of amount steps are worked by adding
 * up the amounts first; every equation holds, the tracked amount reaches the same values after
 * each run, the problems are those of the seed, the share of runs rewritten follows P, and the
 * CLI checks the flag.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { deltaWork } from '../models/train/generator/delta-work.ts';
import type { Problem } from '../models/train/generator/problems.ts';
import { generateSplit } from '../models/train/generator/split.ts';

const evaluate = (expr: string): number => Function(`return (${expr})`)() as number;
const problem = (question: string, solution: string, kind: Problem['kind'] = 'add-sub') => ({ id: 'x', question, solution, kind });

test('a run of amount steps: the amounts added up in text order, then the net change applied once', () => {
  const q = 'Rosa has 151 hats. She finds 811 more hats. She wins 875 more. Jane takes 679.';
  assert.equal(deltaWork(problem(q, '151+811=962. 962+875=1837. 1837-679=1158. The answer is 1158.'), 1), '811+875=1686. 1686-679=1007. 151+1007=1158. The answer is 1158.');
  // Products of nested amounts stay just before their use; a run that takes away in total subtracts the sum.
  const q2 = 'Ann has 930 pens. She sells 12 pens. She sells 6 packs of 40 pens.';
  assert.equal(deltaWork(problem(q2, '930-12=918. 6*40=240. 918-240=678. The answer is 678.'), 1), '6*40=240. 12+240=252. 930-252=678. The answer is 678.');
  // A partial sum that changes sign (here +5, then -45) leaves the run as it was; so does p = 0.
  const q3 = 'Ann has 100 pens. She buys 5. She sells 50.';
  assert.equal(deltaWork(problem(q3, '100+5=105. 105-50=55. The answer is 55.'), 1), '100+5=105. 105-50=55. The answer is 55.');
  assert.equal(deltaWork(problem(q, '151+811=962. 962+875=1837. 1837-679=1158. The answer is 1158.'), 0), '151+811=962. 962+875=1837. 1837-679=1158. The answer is 1158.');
  // Scaling steps and percentages end runs; a lone amount step stays.
  const q4 = 'Ann has 840 pens. She gives away 25%. She buys 10. She doubles them. She buys 20. She buys 30.';
  assert.equal(
    deltaWork(problem(q4, '840/4=210. 840-210=630. 630+10=640. 640*2=1280. 1280+20=1300. 1300+30=1330. The answer is 1330.'), 1),
    '840/4=210. 840-210=630. 630+10=640. 640*2=1280. 20+30=50. 1280+50=1330. The answer is 1330.',
  );
  // The closing comparison is another person's amount: it never joins a run.
  const q5 = 'Ann has 40 pens. She buys 10. Tom has 5 more pens than Ann.';
  assert.equal(deltaWork(problem(q5, '40+10=50. 50+5=55. The answer is 55.', 'compare'), 1), '40+10=50. 50+5=55. The answer is 55.');
});

test('rewritten hard solutions hold equation by equation, keep the problem, and follow the probability', () => {
  const plain = [...generateSplit({ split: 'train', seed: 21, count: 1500, tier: 'hard' })];
  let changed = 0;
  for (const p of plain) {
    const alt = deltaWork(p, 0.5);
    assert.equal(deltaWork(p, 0.5), alt, 'deterministic per problem');
    assert.ok(alt.endsWith(` The answer is ${p.answer}.`));
    const eqs = alt.slice(0, alt.indexOf(' The answer is ')).split(' ');
    assert.equal(eqs.length, p.solution.slice(0, p.solution.indexOf(' The answer is ')).split(' ').length, 'as many equations as before');
    for (const eq of eqs) {
      const sides = eq.replace(/\.$/, '').split('=');
      for (const side of sides) assert.equal(evaluate(side), evaluate(sides[0]!), eq);
      const value = Number(sides.at(-1));
      assert.ok(Number.isInteger(value) && value >= 1 && value <= 9999, eq);
    }
    if (alt !== p.solution) changed++;
  }
  // About half the runs: the share of problems with a rewritten run is well inside (0.2, 0.8).
  const share = changed / plain.length;
  assert.ok(share > 0.2 && share < 0.8, `share rewritten ${share}`);
  const all = plain.filter((p) => deltaWork(p, 1) !== p.solution).length / plain.length;
  assert.ok(all > share, `p = 1 rewrites more (${all})`);
});

test('the CLI rewrites only the solution and names a bad --delta-work', () => {
  const args = ['bin/skipserve.mjs', 'data', 'generate', '--split', 'train', '--seed', '4', '--count', '40', '--tier', 'hard'];
  const rows = execFileSync('node', [...args, '--delta-work', '0.5'], { encoding: 'utf8' }).trim().split('\n').map((l) => JSON.parse(l) as Problem);
  const plain = [...generateSplit({ split: 'train', seed: 4, count: 40, tier: 'hard' })];
  assert.deepEqual(rows, plain.map((p) => ({ ...p, solution: deltaWork(p, 0.5) })));
  assert.ok(rows.some((r, i) => r.solution !== plain[i]!.solution));
  assert.throws(() => execFileSync('node', [...args, '--delta-work', '2'], { encoding: 'utf8', stdio: 'pipe' }), /--delta-work must be a probability/);
});
