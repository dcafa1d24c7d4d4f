/**
 * The image starts. Its file set is assembled from deploy/Dockerfile's runtime COPY lines (the
 * production node_modules as `npm ls --omit=dev` lists them), made read-only, and the server is
 * started from it as the pod starts it: the base config and A/B arms of the Kubernetes deploy, an
 * unprivileged user (uid 65534 when the test runs as root), HOME unwritable and only a temp dir
 * (the pod's /tmp emptyDir) writable. It must become ready and list every policy as usable.
 * Where a Docker daemon and the base image are at hand, the real image is built too.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, test } from 'node:test';
import { runtimeCopies } from '../testkit/dockerfile.ts';
import { spawnServer } from '../testkit/spawn-server.ts';

const ROOT = join(import.meta.dirname, '..');
const DEPLOY = join(ROOT, 'deploy/kubernetes/base/config');
const base = mkdtempSync(join(tmpdir(), 'skipserve-image-'));
chmodSync(base, 0o755); // traversable by the unprivileged user
after(() => rmSync(base, { recursive: true, force: true }));

/** Read-only to everyone (directories stay traversable); links are left alone (their targets are the repository's). */
function makeReadOnly(path: string): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    for (const e of readdirSync(path)) makeReadOnly(join(path, e));
    chmodSync(path, 0o555);
  } else chmodSync(path, 0o444);
}

test('the image file set starts as an unprivileged user with read-only app files and the base arms', { timeout: 180_000 }, async () => {
  const app = join(base, 'app');
  const writable = join(base, 'tmp');
  mkdirSync(app);
  mkdirSync(writable);
  const copies = runtimeCopies(ROOT);
  assert.ok(copies.includes('node_modules') && copies.includes('src') && copies.includes('bin'), `runtime COPY lines: ${copies.join(', ')}`);
  for (const src of copies) {
    if (src === 'node_modules') continue;
    cpSync(join(ROOT, src), join(app, src), { recursive: true });
  }
  // node_modules as `npm ci --omit=dev` makes it: only the production dependency closure (linked, read-only).
  const prod = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .map((p) => relative(ROOT, p))
    .filter((p) => p.startsWith('node_modules/'))
    .map((p) => p.split('/').slice(0, p.split('/')[1]!.startsWith('@') ? 3 : 2).join('/'));
  for (const pkg of new Set(prod)) {
    mkdirSync(dirname(join(app, pkg)), { recursive: true });
    symlinkSync(join(ROOT, pkg), join(app, pkg));
  }
  // The pod's config: server.json (model path as the image has it, the pod's /tmp as this test's
  // writable dir: the SQLite store and the version cache live there) and the base arms.
  const server = JSON.parse(readFileSync(join(DEPLOY, 'server.json'), 'utf8')) as Record<string, unknown>;
  const inPodTmp = Object.fromEntries(Object.entries(server).filter(([, v]) => typeof v === 'string' && v.startsWith('/tmp/')).map(([k, v]) => [k, join(writable, (v as string).slice(5))]));
  assert.ok(inPodTmp.store && inPodTmp.versionCacheDir, 'the image config keeps the SQLite store and the version cache in the pod\'s writable /tmp');
  writeFileSync(join(base, 'server.json'), JSON.stringify({ ...server, ...inPodTmp, model: join(app, 'models/default') }));
  makeReadOnly(app);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chownSync(writable, 65534, 65534);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    HOME: '/nonexistent',
    TMPDIR: writable,
    SKIPSERVE_CONFIG: join(base, 'server.json'),
    SKIPSERVE_ARMS_FILE: join(DEPLOY, 'arms.json'),
    SKIPSERVE_THREADS: '1',
    SKIPSERVE_HOST: '127.0.0.1',
    SKIPSERVE_LOG_LEVEL: 'info',
  };
  const { child, url, output } = await spawnServer(['--http-port', '0', '--grpc-port', '0'], { cwd: app, env, ...(asRoot ? { uid: 65534, gid: 65534 } : {}) });
  try {
    const ready = await fetch(`${url}/ready`);
    assert.equal(ready.status, 200, output());
    const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { skip_policies: { name: string; available: boolean; unavailable_reason?: string }[] }[] };
    const policies = models.data[0]!.skip_policies;
    assert.ok(policies.length >= 7);
    for (const p of policies) assert.ok(p.available, `${p.name} unavailable in the image: ${p.unavailable_reason}`);
    // Both arms answer (the learned arm needs the selector and its catalog from the image).
    for (const key of ['a', 'b', 'c', 'd']) {
      const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-skipserve-key': key }, body: JSON.stringify({ messages: [{ role: 'user', content: 'Tom has 3 pens. He buys 2 more. How many pens does Tom have now?' }], max_tokens: 24, n: 2 }) });
      assert.equal(r.status, 200, await r.clone().text());
      // Recorded in the store on the writable volume, and it takes feedback.
      const id = ((await r.json()) as { id: string }).id;
      const fb = await fetch(`${url}/v1/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id, source: 'image-test', answer: '5' }) });
      assert.equal(fb.status, 200, await fb.clone().text());
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});

test('the real image builds where a Docker daemon and the base image are at hand', { timeout: 600_000 }, (t) => {
  try {
    execFileSync('docker', ['image', 'inspect', 'node:20-bookworm-slim'], { stdio: 'ignore' });
  } catch {
    t.skip('no Docker daemon or no node:20-bookworm-slim base image here (the network reaches no registry)');
    return;
  }
  execFileSync('docker', ['build', '-f', 'deploy/Dockerfile', '-t', 'skipserve:test', '.'], { cwd: ROOT, stdio: 'inherit' });
});
