/** The `--store` spec: `off` keeps nothing, a postgres:// URL picks PostgreSQL, anything else is a SQLite path. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeStore, openStore, storeEngine } from '../src/store/open-store.ts';
import { minimalRecord } from './helpers/store-fixtures.ts';

describe('--store spec', () => {
  it('off, postgres:// URLs and paths select their engines; URLs are logged without the password', () => {
    assert.equal(storeEngine('off'), 'off');
    assert.equal(storeEngine('postgres://u:secret@db:5432/skip'), 'postgres');
    assert.equal(storeEngine('postgresql://db/skip'), 'postgres');
    assert.equal(storeEngine('/var/lib/skipserve/store.db'), 'sqlite');
    assert.throws(() => storeEngine(' '), /--store must be/);
    assert.equal(describeStore('postgres://u:secret@db:5432/skip'), 'postgres://u:***@db:5432/skip');
  });

  it('the off store keeps nothing and refuses version changes', async () => {
    const store = await openStore('off');
    assert.equal(store.engine, 'off');
    assert.equal(store.record(minimalRecord('x')), false);
    assert.equal(await store.getRecord('x'), null);
    assert.deepEqual(await store.addFeedback({ id: 'x', source: 's', answer: '1' }), { status: 'not_found' });
    assert.deepEqual(await store.mine({ kind: 'wrong' }), []);
    assert.deepEqual(await store.versions.list(), []);
    await assert.rejects(store.versions.promote('model', 'm'), { code: 'store_off' });
    const seen = await new Promise((resolve) => store.versions.watch(resolve));
    assert.deepEqual(seen, { model: null, selector: null, seq: 0 });
    assert.deepEqual(store.stats(), { queued: 0, written: 0, dropped: 0, failed: 0, pending: 0 });
    await store.close();
  });

  it('an unreachable PostgreSQL fails the open with the URL, password hidden', async () => {
    await assert.rejects(openStore('postgres://u:secret@127.0.0.1:1/skip'), (e: Error) => {
      assert.match(e.message, /cannot open store postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/skip: .*ECONNREFUSED/);
      assert.doesNotMatch(e.message, /secret/);
      return true;
    });
  });
});
