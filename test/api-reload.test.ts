/**
 * Hot reload on the real server (SQLite store, real engines): POST /admin/reload swaps the model
 * while a long streamed request runs: that request finishes, on the old version, while the next one
 * is served by the new version; a promotion in the store is followed without a request; a selector
 * reload rebuilds only the policies; a broken or tampered version is refused and the server keeps
 * serving what it had.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildCatalog, saveCatalog } from '../router/catalog-build.ts';
import { selectorToOnnx } from '../router/selector/export-onnx.ts';
import { initSelector } from '../router/selector/model.ts';
import { versionFromDir } from '../src/versions/version-from-dir.ts';
import { metricValue, startTestServer, testCheckpoint, waitFor, type TestServer } from './helpers/start-server.ts';

const root = mkdtempSync(join(tmpdir(), 'skipserve-reload-'));
const shape = { layers: 4, hidden: 32, heads: 4, kvHeads: 2, maxPositions: 1024 };
const A = testCheckpoint({ ...shape, seed: 5 });
const B = testCheckpoint({ ...shape, seed: 6 });
let server: TestServer;
type Json = Record<string, any>;

/** A selector version folder for the test checkpoints' shape: catalog + selector.onnx (seeded), or a broken selector. */
function selectorDir(name: string, seed: number, broken = false): string {
  const dir = join(root, name);
  const cat = buildCatalog(shape.layers, shape.heads, { seed: 1 });
  saveCatalog(join(dir, 'router', 'catalog.json'), cat);
  const onnx = broken ? new Uint8Array([1, 2, 3, 4]) : selectorToOnnx(initSelector({ inputDim: shape.hidden, hiddenDim: 8, embedDim: 6, numPlans: cat.entries.length }, seed));
  writeFileSync(join(dir, 'selector.onnx'), onnx);
  return dir;
}

const post = async (path: string, body: unknown) => {
  const res = await fetch(`${server.http}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Json };
};
const get = async (path: string) => (await (await fetch(`${server.http}${path}`)).json()) as Json;
const served = async () => (await get('/v1/models')).data[0] as Json;
const recordOf = async (id: string) => {
  await server.ctx.store.flush();
  return get(`/v1/requests/${id}`);
};

before(async () => {
  mkdirSync(join(root, 'cache'));
  server = await startTestServer({ store: join(root, 'store.sqlite'), versionCacheDir: join(root, 'cache'), versionPoll: 0.1 }, { ...shape, seed: 5 });
  for (const [kind, dir, name] of [['model', B, 'b'], ['selector', selectorDir('s1', 7), 's1'], ['selector', selectorDir('s2', 8), 's2'], ['selector', selectorDir('broken', 9, true), 'broken']] as const) {
    await server.ctx.store.versions.add((await versionFromDir(kind, dir, { name })).version);
  }
});
after(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

test('a model reload under traffic: the in-flight request finishes on the old version, the next one gets the new', async () => {
  const before = await served();
  assert.equal(before.selector_version, null);
  const res = await fetch(`${server.http}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'Q: 1+1? A:', n: 2, max_tokens: 900, ignore_eos: true, seed: 1, stream: true }),
  });
  const reader = res.body!.getReader();
  let text = '';
  await (async () => {
    while (!text.includes('data: ')) text += new TextDecoder().decode((await reader.read()).value);
  })();
  let ended = false;
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    ended = true;
  })();

  const reload = await post('/admin/reload', { model: 'b' });
  assert.equal(reload.status, 200, JSON.stringify(reload.body));
  assert.equal(reload.body.changed, 'model');
  assert.match(reload.body.model_version, /^b@[0-9a-f]{12}$/);
  assert.equal(reload.body.previous.model_version, before.model_version);
  assert.equal(ended, false, 'the long request was still running when the new model took over');

  const next = await post('/v1/completions', { prompt: 'Q: 2+2? A:', max_tokens: 3 });
  assert.equal(next.status, 200);
  assert.equal((await recordOf(next.body.id)).model_version, reload.body.model_version, 'the next request is served by the new version');

  await rest;
  const chunks = text.split('\n').filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]').map((l) => JSON.parse(l.slice(6)));
  assert.ok(text.includes('data: [DONE]'), 'the in-flight stream ended normally');
  assert.equal(chunks.filter((c) => c.choices[0]?.finish_reason === 'length').length, 2, 'both candidates ran to max_tokens');
  assert.equal((await recordOf(chunks[0].id)).model_version, before.model_version, 'the in-flight request stayed on the old version');
  assert.equal((await served()).model_version, reload.body.model_version);
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.equal(metricValue(metrics, `skipserve_model_info{model_version="${reload.body.model_version}",selector_version="none"}`), 1);
  assert.equal(metricValue(metrics, `skipserve_model_info{model_version="${before.model_version}",selector_version="none"}`), undefined, 'the old series is gone');
  assert.equal(metricValue(metrics, 'skipserve_reloads_total{outcome="model"}'), 1);
});

test('a selector reload rebuilds the policies only; the learned policy serves with the new selector', async () => {
  const model = server.ctx.model;
  assert.ok(model.policies.get('learned')!.unavailableReason(), 'no selector yet');
  const r = await post('/admin/reload', { selector: 's1' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.changed, 'selector');
  assert.equal(server.ctx.model, model, 'the same engine serves (no model reload)');
  assert.match((await served()).selector_version, /^s1@/);
  const learned = await post('/v1/completions', { prompt: 'Q: 3+4? A:', n: 2, max_tokens: 3, skip: { policy: 'learned' } });
  assert.equal(learned.status, 200, JSON.stringify(learned.body));
  assert.match((await recordOf(learned.body.id)).selector_version, /^s1@/);
});

test('a broken selector or a tampered model is refused; the server keeps serving what it had', async () => {
  const was = await served();
  const broken = await post('/admin/reload', { selector: 'broken' });
  assert.equal(broken.status, 500, JSON.stringify(broken.body));
  assert.match(broken.body.error.message, /failed to load: .*protobuf/);
  const { version } = await versionFromDir('model', A, { name: 'tampered' });
  await server.ctx.store.versions.add({ ...version, hash: `sha256:${'0'.repeat(64)}` });
  const tampered = await post('/admin/reload', { model: 'tampered' });
  assert.equal(tampered.status, 500);
  assert.match(tampered.body.error.message, /hash to sha256:[0-9a-f]{64}, not sha256:0{64}/);
  const unknown = await post('/admin/reload', { model: 'nope' });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.param, 'model');
  assert.equal((await post('/admin/reload', { modle: 'b' })).body.error.param, 'modle');
  const now = await served();
  assert.deepEqual([now.model_version, now.selector_version], [was.model_version, was.selector_version]);
  assert.equal((await post('/v1/completions', { prompt: 'hi', max_tokens: 2, skip: { policy: 'learned' } })).status, 200);
});

test('a promotion in the store is followed without a request; a rollback too', async () => {
  const v = server.ctx.store.versions;
  await v.promote('selector', 's2');
  await waitFor(async () => /^s2@/.test((await served()).selector_version ?? ''), 10_000, 'the promoted selector serves');
  await v.promote('model', 'b');
  await v.promote('selector', 's1');
  await waitFor(async () => /^s1@/.test((await served()).selector_version ?? ''), 10_000, 'the second promotion serves');
  assert.match((await served()).model_version, /^b@/);
  await v.rollback('selector');
  await waitFor(async () => /^s2@/.test((await served()).selector_version ?? ''), 10_000, 'the rollback serves');
  // A reload without a body loads what is promoted (a no-op now).
  const r = await post('/admin/reload', {});
  assert.equal(r.body.changed, 'none');
});
