/**
 * End to end on a random checkpoint: tokenizer round trip, the `generate` CLI (text and --json),
 * greedy determinism and seeded reproducibility through the real worker runner.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TextTokenizer } from '../src/text/tokenizer.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = makeCheckpoint({ layers: 2, seed: 77, eosTokenIds: [271] });
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/skipserve.mjs', 'generate', '--model', dir, '--threads', '1', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tokenizer', () => {
  it('round-trips text, adds BOS, knows its special tokens', () => {
    const t = TextTokenizer.load(dir);
    const ids = t.encode('Hello, wörld 42!');
    assert.equal(ids[0], 0);
    assert.equal(t.decode(ids), 'Hello, wörld 42!');
    assert.deepEqual(t.encode('ab', false), [3 + 97, 3 + 98]);
    assert.equal(t.eosTokenId, 1);
    assert.ok(t.specialIds.has(0) && t.specialIds.has(1));
    assert.equal(t.tokenText(3 + 97), 'a');
    assert.match(t.chatTemplate ?? '', /messages/);
  });
});

describe('generate CLI', () => {
  it('--json reports the completion and its counts; greedy is deterministic', () => {
    const a = cli(['--prompt', 'The answer is', '--max-tokens', '6', '--json']);
    assert.equal(a.status, 0, a.stderr);
    const o = JSON.parse(a.stdout);
    assert.equal(o.completion_tokens, 6);
    assert.equal(o.token_ids.length, 6);
    assert.equal(o.prompt_tokens, 14);
    assert.equal(typeof o.text, 'string');
    assert.ok(o.decode_tokens_per_second > 0);
    const b = JSON.parse(cli(['--prompt', 'The answer is', '--max-tokens', '6', '--json']).stdout);
    assert.deepEqual(b.token_ids, o.token_ids);
  });

  it('seeded sampling reproduces; a plan changes the output', () => {
    const s1 = JSON.parse(cli(['--prompt', 'x', '--max-tokens', '8', '--temperature', '1.5', '--seed', '9', '--json']).stdout);
    const s2 = JSON.parse(cli(['--prompt', 'x', '--max-tokens', '8', '--temperature', '1.5', '--seed', '9', '--json']).stdout);
    assert.deepEqual(s1.token_ids, s2.token_ids);
    const full = JSON.parse(cli(['--prompt', 'x', '--max-tokens', '8', '--json']).stdout);
    const skipped = JSON.parse(cli(['--prompt', 'x', '--max-tokens', '8', '--plan', '{"skip_layers":[1],"mask_heads":{"0":[0,1]}}', '--json']).stdout);
    assert.deepEqual(skipped.plan, { skip_layers: [1], mask_heads: { '0': [0, 1] } });
    assert.notDeepEqual(skipped.token_ids, full.token_ids);
  });

  it('--min-p 1 keeps only the most likely token (greedy at any temperature); a frequency penalty changes a repetitive greedy run', () => {
    const greedy = JSON.parse(cli(['--prompt', 'x', '--max-tokens', '24', '--json']).stdout);
    const minP = JSON.parse(cli(['--prompt', 'x', '--max-tokens', '24', '--temperature', '1.5', '--seed', '3', '--min-p', '1', '--json']).stdout);
    assert.deepEqual(minP.token_ids, greedy.token_ids);
    assert.ok(new Set(greedy.token_ids).size < greedy.token_ids.length, 'the random checkpoint repeats itself greedily');
    const penalized = JSON.parse(cli(['--prompt', 'x', '--max-tokens', '24', '--frequency-penalty', '2', '--presence-penalty', '1', '--json']).stdout);
    assert.notDeepEqual(penalized.token_ids, greedy.token_ids);
    assert.ok(new Set(penalized.token_ids).size > new Set(greedy.token_ids).size);
  });

  it('--beam W returns the best beam, deterministically; --length-penalty needs --beam', () => {
    const args = ['--prompt', 'x', '--max-tokens', '10', '--json'];
    const beam = JSON.parse(cli([...args, '--beam', '4', '--length-penalty', '0']).stdout);
    assert.deepEqual(JSON.parse(cli([...args, '--beam', '4', '--length-penalty', '0']).stdout).token_ids, beam.token_ids);
    assert.ok(beam.completion_tokens >= 1);
    assert.match(cli(['--prompt', 'hi', '--length-penalty', '2']).stderr, /--length-penalty needs --beam/);
    assert.match(cli(['--prompt', 'hi', '--beam', '0']).stderr, /--beam must be an integer from 1 to 64/);
  });

  it('plain text output and clear errors', () => {
    const out = execFileSync(process.execPath, ['bin/skipserve.mjs', 'generate', '--model', dir, '--prompt', 'hi', '--max-tokens', '3'], { cwd: ROOT, encoding: 'utf8' });
    assert.ok(out.endsWith('\n'));
    const bad = cli(['--prompt', 'hi', '--plan', '{"skip_attention":[0,9]}']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /skip_attention\[1\]=9 out of range: model has 2 layers/);
    assert.match(cli(['--prompt', 'hi', '--temperature=-2']).stderr, /--temperature must be a number >= 0/);
    assert.match(cli([]).stderr, /--prompt is required/);
    assert.match(cli(['--prompt', 'hi', '--min-p', '1.5']).stderr, /--min-p must be in \[0, 1\]/);
    assert.match(cli(['--prompt', 'hi', '--frequency-penalty', '3']).stderr, /--frequency-penalty must be in \[-2, 2\]/);
  });
});
