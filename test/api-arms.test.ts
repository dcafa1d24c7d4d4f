// The A/B hook: a request without skip.policy gets its caller's arm (sticky per x-skipserve-key).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from './helpers/start-server.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer({ arms: JSON.stringify({ arms: [{ name: 'heads', policy: 'random-heads', weight: 50, k: 1 }, { name: 'control', policy: 'none', weight: 50 }] }) });
});
after(() => server?.close());

async function ask(key: string, skip?: unknown) {
  const r = await fetch(`${server.http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-skipserve-key': key }, body: JSON.stringify({ prompt: 'hi', max_tokens: 2, n: 2, skip }) });
  assert.equal(r.status, 200);
  return (await r.json()) as { skip: { policy: string; arm?: string }; choices: { skip_plan: { mask_heads?: Record<string, number[]> } }[] };
}

test('arms: sticky per caller key, both arms used, an explicit policy wins', async () => {
  const seen = new Map<string, string>();
  for (let i = 0; i < 16; i++) {
    const key = `caller-${i}`;
    const a = await ask(key);
    const b = await ask(key);
    assert.equal(a.skip.arm, b.skip.arm, 'same caller, same arm');
    assert.equal(a.skip.policy, a.skip.arm === 'heads' ? 'random-heads' : 'none');
    if (a.skip.arm === 'heads') for (const c of a.choices) assert.equal(Object.values(c.skip_plan.mask_heads ?? {}).flat().length, 1, "the arm's k applies");
    seen.set(key, a.skip.arm!);
  }
  assert.deepEqual(new Set(seen.values()), new Set(['heads', 'control']));
  const explicit = await ask('caller-0', { policy: 'none' });
  assert.equal(explicit.skip.policy, 'none');
  assert.equal(explicit.skip.arm, undefined);
});
