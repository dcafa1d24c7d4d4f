// API keys (src/api/auth/keys.ts): several keys from a file, rotation by rewriting the file
// without a restart, Bearer parsing, no key material in errors or results, and a fast-check fuzz of
// the Authorization header: only "Bearer <a key in force>" is accepted, nothing throws.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ApiKeys, AUTH_FAILURE_MESSAGE, bearerToken, keyFingerprint, MAX_AUTHORIZATION_LENGTH, parseKeysFile } from '../src/api/auth/keys.ts';

const dir = mkdtempSync(join(tmpdir(), 'skipserve-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const A = 'sk-alpha-0123456789abcdef';
const B = 'sk-bravo-0123456789abcdef';
const C = 'sk-charlie-0123456789abcd';

/** Writes `text` to `path` atomically (write + rename), as a deploy tool or a Secret update does. */
function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('keys file', () => {
  it('reads several keys, skipping comments and blank lines, merging duplicates', () => {
    assert.deepEqual(parseKeysFile(`# team keys\n${A}\r\n\n  ${B}  \n${A}\n`, 'keys.txt'), [A, B]);
  });

  it('refuses bad files with the file and line, never the key', () => {
    const secret = 'sk-secret with-space-0123456789';
    assert.throws(() => parseKeysFile(`${A}\n${secret}\n`, 'keys.txt'), (e: Error) => /keys\.txt:2: an API key must not contain whitespace/.test(e.message) && !e.message.includes('sk-secret'));
    assert.throws(() => parseKeysFile('short-key\n', 'keys.txt'), (e: Error) => /keys\.txt:1: .*at least 16/.test(e.message) && !e.message.includes('short-key'));
    assert.throws(() => parseKeysFile('# nothing\n\n', 'keys.txt'), /keys\.txt: no API keys/);
    assert.throws(() => ApiKeys.fromFile(join(dir, 'missing.txt')), /cannot read the API keys file .*missing\.txt: ENOENT/);
  });
});

describe('verification', () => {
  const keys = ApiKeys.fromKeys([A, B]);

  it('accepts every key in force, names it by fingerprint only', () => {
    for (const k of [A, B]) {
      const r = keys.verifyAuthorization(`Bearer ${k}`);
      assert.deepEqual(r, { ok: true, keyId: keyFingerprint(k) });
      assert.ok(!JSON.stringify(r).includes(k));
    }
    assert.equal(keys.verifyAuthorization(`bearer ${A}`).ok, true);
    assert.equal(keys.verifyAuthorization(`  Bearer \t${A}  `).ok, true);
    assert.match(keyFingerprint(A), /^key-[0-9a-f]{8}$/);
    assert.notEqual(keyFingerprint(A), keyFingerprint(B));
  });

  it('refuses anything else', () => {
    for (const h of [undefined, null, '', 'Bearer', 'Bearer ', `Basic ${A}`, A, `Bearer ${A}x`, `Bearer ${A.slice(0, -1)}`, `Bearer ${A.toUpperCase()}`, `Bearer ${A} ${B}`, `Bearer ${C}`, `Bearer ${'x'.repeat(MAX_AUTHORIZATION_LENGTH)}`]) {
      assert.deepEqual(keys.verifyAuthorization(h), { ok: false, keyId: null }, String(h).slice(0, 40));
    }
    assert.equal(bearerToken(`Bearer ${'a'.repeat(MAX_AUTHORIZATION_LENGTH)}`), null);
    assert.ok(!/sk-|Bearer [^<]/.test(AUTH_FAILURE_MESSAGE));
  });
});

describe('rotation', () => {
  it('picks up a rewritten file without a restart and keeps the old keys when the new file is bad', async () => {
    const file = join(dir, 'keys.txt');
    writeAtomic(file, `${A}\n${B}\n`);
    const errors: string[] = [];
    let reloads = 0;
    const keys = ApiKeys.fromFile(file, { watchIntervalMs: 25, onError: (e) => errors.push(e.message), onReload: () => reloads++ });
    try {
      assert.equal(keys.size, 2);
      assert.equal(keys.verifyAuthorization(`Bearer ${A}`).ok, true);
      // Rotate: B stays, A retires, C arrives.
      writeAtomic(file, `${B}\n${C}\n`);
      await waitFor(() => keys.verifyAuthorization(`Bearer ${C}`).ok, 5000, 'the new key to be accepted');
      assert.equal(keys.verifyAuthorization(`Bearer ${A}`).ok, false, 'the retired key is refused');
      assert.equal(keys.verifyAuthorization(`Bearer ${B}`).ok, true, 'the kept key still works');
      assert.ok(reloads >= 1);
      // A broken update (no keys) is reported and ignored.
      writeAtomic(file, '# emptied by mistake\n');
      await waitFor(() => errors.length > 0, 5000, 'the bad reload to be reported');
      assert.match(errors[0]!, /no API keys/);
      assert.equal(keys.verifyAuthorization(`Bearer ${C}`).ok, true, 'the keys in force stay');
      assert.ok(!errors.some((e) => e.includes(B) || e.includes(C)));
    } finally {
      keys.close();
    }
  });
});

describe('Authorization header fuzz (fast-check)', () => {
  const keys = ApiKeys.fromKeys([A, B]);
  const accepts = (h: string) => {
    const m = /^[ \t]*bearer[ \t]+(\S+)[ \t]*$/i.exec(h);
    return h.length <= MAX_AUTHORIZATION_LENGTH && m !== null && (m[1] === A || m[1] === B);
  };

  it('accepts exactly "Bearer <key in force>" and never throws', () => {
    const near = fc.tuple(fc.constantFrom(A, B), fc.nat({ max: 30 }), fc.string({ unit: 'binary', maxLength: 3 }), fc.constantFrom('insert', 'delete', 'replace', 'case')).map(([k, at, s, op]) => {
      const i = at % k.length;
      if (op === 'insert') return k.slice(0, i) + s + k.slice(i);
      if (op === 'delete') return k.slice(0, i) + k.slice(i + 1 + s.length);
      if (op === 'replace') return k.slice(0, i) + (s || 'x') + k.slice(i + 1);
      return k.slice(0, i) + k[i]!.toUpperCase() + k.slice(i + 1);
    });
    const scheme = fc.constantFrom('Bearer ', 'bearer ', 'BEARER\t', 'Bearer  ', 'Bearer', 'Basic ', 'Token ', '', ' Bearer ');
    const header = fc.oneof(
      fc.tuple(scheme, fc.oneof(fc.constantFrom(A, B), near), fc.constantFrom('', ' ', '\t', '\n', ' x')).map(([s, k, tail]) => s + k + tail),
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.string({ unit: 'grapheme', maxLength: 80 }).map((s) => `Bearer ${s}`),
      fc.integer({ min: MAX_AUTHORIZATION_LENGTH - 40, max: MAX_AUTHORIZATION_LENGTH + 40 }).map((n) => `Bearer ${A}`.padEnd(n, ' ')),
    );
    fc.assert(
      fc.property(header, (h) => {
        const r = keys.verifyAuthorization(h);
        assert.equal(r.ok, accepts(h), JSON.stringify(h));
        assert.equal(r.keyId, r.ok ? keyFingerprint(bearerToken(h)!) : null);
      }),
      { numRuns: 3000, seed: 15 },
    );
  });
});
