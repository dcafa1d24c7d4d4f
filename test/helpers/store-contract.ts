/**
 * The behaviour every store engine must show, run against real engines by store-sqlite.test.ts and
 * store-postgres.test.ts: round trips, read-your-writes, feedback rules, the bounded queue,
 * retention, mining, versions and migrations.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { startRetention } from '../../src/store/retention.ts';
import type { PromotedVersions, RequestStore, StoreEvent, StoreOptions } from '../../src/store/types.ts';
import { makeRecord, minimalRecord } from './store-fixtures.ts';

export interface EngineUnderTest {
  name: string;
  /** Why the suite skips here (only ever set outside CI). */
  skip?: string;
  /** A new, empty store location (file path or database URL) and how to remove it. */
  fresh(): Promise<{ spec: string; cleanup: () => Promise<void> }>;
  open(spec: string, opts?: StoreOptions): Promise<RequestStore>;
  /** Rows of schema_migrations, read with the engine's own client. */
  migrationVersions(spec: string): Promise<number[]>;
  /** What a U+0000 in a text comes back as (PostgreSQL's text holds none). */
  nul: string;
  /** Pretends a newer skipserve migrated the database. */
  addMigrationRow(spec: string, version: number): Promise<void>;
}

/** Registers the shared suite for one engine. */
export function storeContract(engine: EngineUnderTest): void {
  describe(`${engine.name} store`, { skip: engine.skip }, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });
    /** Opens a store on a fresh location; closed and removed after the test. */
    const open = async (opts: StoreOptions = {}) => {
      const loc = await engine.fresh();
      const store = await engine.open(loc.spec, opts);
      cleanups.push(loc.cleanup, () => store.close());
      return { store, spec: loc.spec };
    };

    it('records round-trip with every field, optional ones omitted when absent', async () => {
      const { store } = await open();
      const full = makeRecord('chatcmpl-full');
      const minimal = minimalRecord('cmpl-min');
      const odd = makeRecord('chatcmpl-odd', { answers: ['x'], speedup: Number.NaN });
      odd.candidates[0].meanLogprob = Number.NEGATIVE_INFINITY;
      for (const r of [full, minimal, odd]) assert.equal(store.record(r), true);
      await store.flush();
      assert.deepEqual(await store.getRecord(full.id), { ...full, feedback: [] });
      assert.deepEqual(await store.getRecord(minimal.id), { ...minimal, feedback: [] });
      const back = await store.getRecord(odd.id);
      assert.equal(back?.speedup, undefined);
      assert.equal(back?.candidates[0].meanLogprob, null);
      assert.equal(await store.getRecord('chatcmpl-unknown'), null);
      assert.deepEqual(store.stats(), { queued: 3, written: 3, dropped: 0, failed: 0, pending: 0 });
    });

    it('a record still queued is found by getRecord and takes feedback (written first)', async () => {
      const { store } = await open();
      store.record(makeRecord('q1'));
      assert.equal((await store.getRecord('q1'))?.id, 'q1');
      store.record(makeRecord('q2'));
      assert.deepEqual(await store.addFeedback({ id: 'q2', source: 'user', answer: '42' }), { status: 'stored', replaced: false });
    });

    it('a malformed record is dropped at once, naming the problem, and the rest of its batch is written', async () => {
      const events: StoreEvent[] = [];
      const { store } = await open({ onEvent: (e) => events.push(e) });
      const bad = makeRecord('bad');
      bad.candidates[1].index = 0;
      assert.equal(store.record(makeRecord('good-1')), true);
      assert.equal(store.record(bad), false);
      assert.equal(store.record({ ...makeRecord('bad-2'), timings: undefined } as never), false);
      assert.equal(store.record(makeRecord('good-2')), true);
      await store.flush();
      assert.deepEqual([store.stats().written, store.stats().dropped, store.stats().failed], [2, 2, 0]);
      const dropped = events.filter((e) => e.type === 'dropped');
      assert.match(dropped[0].type === 'dropped' ? String(dropped[0].message) : '', /candidate index 0 is not a distinct/);
      assert.equal((await store.getRecord('good-2'))?.id, 'good-2');
    });

    it('a NUL in any text is stored (as the engine can) and the rest of its batch with it; lookups and feedback with one answer', async () => {
      const { store } = await open();
      const odd = makeRecord('nul\u0000id', { metadata: { 'k\u0000': 'v\u0000' } });
      odd.promptText = 'a\u0000b';
      odd.candidates[0].text = 'x\u0000y';
      odd.candidates[0].answer = '4\u00002';
      for (const r of [makeRecord('nul-before'), odd, makeRecord('nul-after')]) assert.equal(store.record(r), true);
      await store.flush();
      assert.deepEqual([store.stats().written, store.stats().failed], [3, 0]);
      const id = `nul${engine.nul}id`;
      const back = await store.getRecord(id);
      assert.equal(back?.promptText, `a${engine.nul}b`);
      assert.equal(back?.candidates[0].text, `x${engine.nul}y`);
      assert.deepEqual(back?.metadata, { [`k${engine.nul}`]: `v${engine.nul}` });
      assert.equal((await store.getRecord('nul-after'))?.id, 'nul-after');
      assert.equal((await store.getRecord('nul\u0000')), null);
      assert.deepEqual(await store.addFeedback({ id, source: 'u\u0000', answer: '4\u00002' }), { status: 'stored', replaced: false });
      assert.equal((await store.getRecord(id))?.feedback[0]?.answer, `4${engine.nul}2`);
    });

    it('deleteRecord removes a record with its candidates and feedback, also one still queued; false for an unknown id', async () => {
      const { store } = await open();
      store.record(makeRecord('del-1'));
      store.record(makeRecord('keep'));
      await store.flush();
      await store.addFeedback({ id: 'del-1', source: 'user', answer: '42' });
      assert.equal(await store.deleteRecord('del-1'), true);
      assert.equal(await store.getRecord('del-1'), null);
      assert.deepEqual(await store.addFeedback({ id: 'del-1', source: 'user', answer: '41' }), { status: 'not_found' });
      store.record(makeRecord('del-queued'));
      assert.equal(await store.deleteRecord('del-queued'), true);
      assert.equal(await store.getRecord('del-queued'), null);
      assert.equal(await store.deleteRecord('del-1'), false);
      assert.equal((await store.getRecord('keep'))?.id, 'keep');
    });

    it('a repeated id keeps the first record', async () => {
      const { store } = await open();
      store.record(makeRecord('dup', { policy: 'first' }));
      store.record(makeRecord('dup', { policy: 'second' }));
      await store.flush();
      assert.equal((await store.getRecord('dup'))?.policy, 'first');
      assert.equal(store.stats().failed, 0);
    });

    it('feedback: not_found, invalid, and idempotent per (id, source) with the last write winning', async () => {
      const { store } = await open();
      store.record(makeRecord('f1'));
      await store.flush();
      assert.deepEqual(await store.addFeedback({ id: 'nope', source: 'user', answer: '1' }), { status: 'not_found' });
      assert.deepEqual(await store.addFeedback({ id: 'f1', source: 'user', answer: '41' }), { status: 'stored', replaced: false });
      assert.deepEqual(await store.addFeedback({ id: 'f1', source: 'user', answer: '43' }), { status: 'stored', replaced: true });
      assert.deepEqual(await store.addFeedback({ id: 'f1', source: 'user', answer: '43' }), { status: 'stored', replaced: true });
      assert.deepEqual(await store.addFeedback({ id: 'f1', source: 'grader', labels: [true, true, false, false] }), {
        status: 'stored',
        replaced: false,
      });
      assert.deepEqual(await store.addFeedback({ id: 'f1', source: 'rater', score: 0.25 }), { status: 'stored', replaced: false });
      const bad = await store.addFeedback({ id: 'f1', source: 'grader', labels: [true] });
      assert.equal(bad.status, 'invalid');
      assert.equal(bad.status === 'invalid' && bad.field, 'labels');
      const two = await store.addFeedback({ id: 'f1', source: 'x', answer: '1', score: 1 } as never);
      assert.equal(two.status === 'invalid' && two.field, 'answer');
      const noSource = await store.addFeedback({ id: 'f1', source: '', answer: '1' });
      assert.equal(noSource.status === 'invalid' && noSource.field, 'source');
      const fb = (await store.getRecord('f1'))!.feedback;
      assert.deepEqual(
        fb.map(({ createdAt, updatedAt, ...f }) => (assert.ok(updatedAt >= createdAt), f)),
        [
          { source: 'grader', labels: [true, true, false, false] },
          { source: 'rater', score: 0.25 },
          { source: 'user', answer: '43' },
        ],
      );
    });

    it('a full queue drops records and counts them; record() returns at once and the event loop keeps turning', async () => {
      const events: StoreEvent[] = [];
      const { store } = await open({ queueSize: 4, onEvent: (e) => events.push(e) });
      const accepted = Array.from({ length: 10 }, (_, i) => store.record(makeRecord(`d${i}`)));
      assert.deepEqual(accepted, [true, true, true, true, false, false, false, false, false, false]);
      assert.equal(store.stats().dropped, 6);
      assert.equal(store.stats().written, 0, 'nothing was written while record() ran');
      assert.equal(events.filter((e) => e.type === 'dropped').length, 6);
      await store.flush();
      assert.equal(store.stats().written, 4);
      assert.equal(await store.getRecord('d5'), null);
      assert.ok(events.some((e) => e.type === 'written' && e.count > 0 && e.seconds >= 0));

      const big = await open({ queueSize: 5000 });
      for (let i = 0; i < 3000; i++) big.store.record(makeRecord(`b${i}`));
      let turns = 0;
      let flushed = false;
      const spin = () => {
        if (flushed) return;
        turns++;
        setImmediate(spin);
      };
      setImmediate(spin);
      await big.store.flush();
      flushed = true;
      assert.equal(big.store.stats().written, 3000);
      assert.ok(turns > 1, `the event loop turned ${turns} times while 3,000 records were written`);
    });

    it('retention deletes old records with their candidates and feedback', async () => {
      const { store } = await open();
      const now = Date.now();
      store.record(minimalRecord('old', now - 40 * 86_400_000));
      store.record(minimalRecord('recent', now - 86_400_000));
      await store.flush();
      assert.equal((await store.addFeedback({ id: 'old', source: 'u', score: 1 })).status, 'stored');
      assert.equal(await store.deleteOlderThan(now - 30 * 86_400_000), 1);
      assert.equal(await store.getRecord('old'), null);
      assert.deepEqual((await store.addFeedback({ id: 'old', source: 'u', score: 1 })).status, 'not_found');
      const events: StoreEvent[] = [];
      const job = startRetention(store, { days: 0.5, intervalMs: 3_600_000, onEvent: (e) => events.push(e) });
      assert.equal(await job.runOnce(), 1);
      job.stop();
      assert.equal(await store.getRecord('recent'), null);
      assert.ok(events.some((e) => e.type === 'retention'));
    });

    it('mining lists wrong answers (reference, feedback answer, labels) and disagreement, with filters', async () => {
      const { store } = await open();
      const t = 1_700_000_000_000;
      store.record(makeRecord('ok', { createdAt: t, answers: ['7', '7'], referenceAnswer: '7', referenceMatch: true }));
      store.record(makeRecord('ref-wrong', { createdAt: t + 1, answers: ['6', '7'], referenceAnswer: '7', referenceMatch: false }));
      store.record(makeRecord('fb-wrong', { createdAt: t + 2, answers: ['5', '5', '5'], referenceAnswer: undefined, referenceMatch: undefined }));
      store.record(makeRecord('label-wrong', { createdAt: t + 3, answers: ['1', '2'], policy: 'none', referenceMatch: undefined }));
      store.record(makeRecord('fb-right', { createdAt: t + 4, answers: ['9', '8', '8', '3'], referenceMatch: undefined }));
      await store.flush();
      await store.addFeedback({ id: 'fb-wrong', source: 'user', answer: '6' });
      await store.addFeedback({ id: 'label-wrong', source: 'grader', labels: [false, true] });
      await store.addFeedback({ id: 'fb-right', source: 'user', answer: '9' });
      const ids = async (q: Parameters<RequestStore['mine']>[0]) => (await store.mine(q)).map((r) => r.id);
      assert.deepEqual(await ids({ kind: 'wrong' }), ['label-wrong', 'fb-wrong', 'ref-wrong']);
      assert.deepEqual(await ids({ kind: 'wrong', policy: 'none' }), ['label-wrong']);
      assert.deepEqual(await ids({ kind: 'wrong', since: t + 2, limit: 1 }), ['label-wrong']);
      assert.deepEqual(await ids({ kind: 'disagreement', limit: 3 }), ['fb-right', 'label-wrong', 'ref-wrong']);
      const mined = await store.mine({ kind: 'wrong', policy: 'none' });
      assert.equal(mined[0].candidates.length, 2);
      assert.equal(mined[0].feedback[0].source, 'grader');
    });

    it('versions: add, promote (one per kind), refuse, rollback through the history', async () => {
      const { store } = await open();
      const v = store.versions;
      const add = (kind: 'model' | 'selector', name: string) => v.add({ kind, name, hash: `sha256:${name}`, uri: `/models/${name}` });
      assert.equal((await add('model', 'm1')).status, 'candidate');
      assert.equal((await add('model', 'm1')).status, 'candidate', 'adding the same version again is a no-op');
      await assert.rejects(v.add({ kind: 'model', name: 'm1', hash: 'sha256:other', uri: '/x' }), { code: 'conflict' });
      await add('model', 'm2');
      await add('model', 'm3');
      await add('selector', 's1');
      await assert.rejects(v.promote('model', 'zz'), { code: 'not_found' });
      await assert.rejects(v.rollback('model'), { code: 'no_previous' });
      assert.equal((await v.promote('model', 'm1')).status, 'promoted');
      await v.promote('model', 'm2');
      await v.promote('model', 'm3');
      await v.promote('selector', 's1');
      const status = async () => Object.fromEntries((await v.list('model')).map((x) => [x.name, x.status]));
      assert.deepEqual(await status(), { m1: 'retired', m2: 'retired', m3: 'promoted' });
      assert.equal((await v.rollback('model')).name, 'm2');
      assert.equal((await v.rollback('model')).name, 'm1');
      await assert.rejects(v.rollback('model'), { code: 'no_previous' });
      assert.deepEqual(await status(), { m1: 'promoted', m2: 'retired', m3: 'retired' });
      await assert.rejects(v.refuse('model', 'm1'), { code: 'conflict' });
      const refused = await v.refuse('model', 'm3', { accuracy: 0.5, reason: 'gate' });
      assert.deepEqual([refused.status, refused.report], ['refused', { accuracy: 0.5, reason: 'gate' }]);
      const p = await v.promoted();
      assert.deepEqual([p.model?.name, p.selector?.name], ['m1', 's1']);
      assert.ok(p.seq > 0);
      await assert.rejects(v.promote('weights' as never, 'm1'), { code: 'invalid' });
    });

    it('a name no version can have is not found (a NUL among them); a report with a NUL is kept as the engine can', async () => {
      const { store } = await open();
      for (const name of ['a\u0000b', '../x', ''])
        for (const call of [() => store.versions.files('model', name), () => store.versions.promote('model', name), () => store.versions.refuse('model', name)])
          await assert.rejects(call(), (e: Error & { code?: string }) => e.code === 'not_found', JSON.stringify(name));
      await store.versions.add({ kind: 'model', name: 'r1', hash: 'sha256:r1', uri: '/m/r1' });
      const refused = await store.versions.refuse('model', 'r1', { note: 'bad\u0000output' });
      assert.deepEqual(refused.report, { note: `bad${engine.nul}output` });
    });

    it('a version keeps its files: stored with it, read back byte for byte, checked paths', async () => {
      const { store } = await open();
      const weights = new Uint8Array(3_000_000).map((_, i) => (i * 31) % 251);
      const files = [
        { path: 'router/catalog.json', bytes: Buffer.from('{"entries":[]}') },
        { path: 'model.safetensors', bytes: weights },
        { path: 'config.json', bytes: new Uint8Array([123, 125]) },
      ];
      await store.versions.add({ kind: 'model', name: 'with-files', hash: 'sha256:wf', uri: '/m/wf', files });
      const back = await store.versions.files('model', 'with-files');
      assert.deepEqual(back.map((f) => f.path), ['config.json', 'model.safetensors', 'router/catalog.json']);
      assert.ok(Buffer.from(back[1].bytes).equals(Buffer.from(weights)), 'the weights come back unchanged');
      assert.equal(Buffer.from(back[2].bytes).toString(), '{"entries":[]}');
      assert.deepEqual(await store.versions.files('model', 'by-uri-only'), []);
      for (const path of ['../escape', '/abs', 'a/./b', 'a//b'])
        await assert.rejects(store.versions.add({ kind: 'selector', name: 'bad', hash: 'sha256:b', uri: '/b', files: [{ path, bytes: new Uint8Array(1) }] }), { code: 'invalid' }, path);
      await assert.rejects(store.versions.add({ kind: 'model', name: 'x@y', hash: 'sha256:x', uri: '/x' }), { code: 'invalid' });
    });

    it('a second store instance on the same database sees promotions through watch()', async () => {
      const { store, spec } = await open();
      const other = await engine.open(spec, { versionPollMs: 50 });
      cleanups.push(() => other.close());
      const seen: PromotedVersions[] = [];
      const stop = other.versions.watch((p) => seen.push(p));
      await waitFor(() => seen.length === 1, 'the initial call');
      assert.equal(seen[0].model, null);
      await store.versions.add({ kind: 'model', name: 'v1', hash: 'sha256:1', uri: '/m/1' });
      await store.versions.add({ kind: 'model', name: 'v2', hash: 'sha256:2', uri: '/m/2' });
      await store.versions.promote('model', 'v1');
      await waitFor(() => seen.at(-1)?.model?.name === 'v1', 'promotion of v1');
      await store.versions.promote('model', 'v2');
      await waitFor(() => seen.at(-1)?.model?.name === 'v2', 'promotion of v2');
      await store.versions.rollback('model');
      await waitFor(() => seen.at(-1)?.model?.name === 'v1', 'rollback to v1');
      stop();
    });

    it('migrations run once: reopening keeps data and applies nothing twice; a newer schema refuses to open', async () => {
      const loc = await engine.fresh();
      cleanups.push(loc.cleanup);
      for (let i = 0; i < 3; i++) {
        const s = await engine.open(loc.spec);
        s.record(minimalRecord(`m${i}`));
        await s.close();
      }
      assert.deepEqual(await engine.migrationVersions(loc.spec), [1, 2, 3]);
      const s = await engine.open(loc.spec);
      for (let i = 0; i < 3; i++) assert.equal((await s.getRecord(`m${i}`))?.id, `m${i}`);
      await s.close();
      await engine.addMigrationRow(loc.spec, 999);
      await assert.rejects(engine.open(loc.spec), /schema version 999 is newer/);
    });
  });
}

/** Polls `cond` every 20 ms for up to 10 s. */
export async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}
