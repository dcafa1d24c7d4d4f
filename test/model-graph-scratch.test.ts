// The generated graphs' weights file (0.5 GB for a 135M model) never outlives its model: removed
// when the model closes, when a model worker is gone (closed, or crashed and running no hook of its
// own), when the process exits without closing it, and, after SIGKILL, by the next model loaded on
// the host. Real onnxruntime sessions, a real worker thread, real child processes.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeGraphScratch, sweepStaleScratch } from '../src/model/graph-scratch.ts';
import { loadLocalModel } from '../src/model/local-model.ts';
import { loadRunner } from '../src/model/runner.ts';
import { FULL_PLAN } from '../src/plans/plan.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';

const ckpt = makeCheckpoint({ layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, seed: 5 });
/** A temp root of this test's own, so other processes' directories never count. */
const root = mkdtempSync(join(tmpdir(), 'skipserve-scratch-test-'));
const env = { ...process.env, TMPDIR: root };
const host = hostname().replace(/[^A-Za-z0-9.]/g, '_');
const scratch = (pid?: number) => readdirSync(root).filter((n) => n.startsWith('skipserve-graph-') && (pid === undefined || n.includes(`-${pid}.`)));

after(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(ckpt, { recursive: true, force: true });
});

/** Runs a script in a child node process with TMPDIR = root; resolves with its pid, exit code (signal name when killed) and stdout. */
function child(script: string, killAfterLine?: string): Promise<{ pid: number; code: number | string; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (killAfterLine && out.includes(killAfterLine)) p.kill('SIGKILL');
    });
    p.on('error', reject);
    p.on('exit', (code, signal) => resolve({ pid: p.pid!, code: code ?? signal!, out }));
  });
}

const load = (extra: string) => `
  import { loadLocalModel } from ${JSON.stringify(new URL('../src/model/local-model.ts', import.meta.url).href)};
  const m = await loadLocalModel({ modelDir: ${JSON.stringify(ckpt)}, threads: 1, coreGraphs: 2 });
  const names = (await import('node:fs')).readdirSync(${JSON.stringify(root)});
  console.log('loaded ' + names.filter((n) => n.startsWith('skipserve-graph-') && n.includes('-' + process.pid + '.')).length);
  ${extra}`;

describe('graph scratch directories', () => {
  it('a model keeps its weights file while it lives (core graphs need it) and removes it on close', async () => {
    const m = await loadLocalModel({ modelDir: ckpt, threads: 1, coreGraphs: 2, scratchDir: makeGraphScratch(root) });
    const [dir] = scratch(process.pid);
    assert.ok(dir, 'a scratch directory while the model lives');
    assert.ok(existsSync(join(root, dir, 'weights.bin')));
    const seq = m.createSeq();
    await m.step([{ seq, tokens: [1, 2, 3], plan: FULL_PLAN, logits: 'last' }]);
    await m.close();
    assert.deepEqual(scratch(process.pid), []);
  });

  it("a worker's directory is removed by the thread that started it, on close and when the worker dies", async () => {
    const before = new Set(readdirSync(tmpdir()));
    const fresh = () => readdirSync(tmpdir()).filter((n) => n.startsWith(`skipserve-graph-${host}-${process.pid}.`) && !before.has(n));
    const r = await loadRunner({ modelDir: ckpt, threads: 1 });
    assert.equal(fresh().length, 1);
    await r.close();
    await new Promise((res) => setTimeout(res, 50));
    assert.deepEqual(fresh(), []);
    // A worker that dies (terminated from outside, as a crash would end it) runs no close.
    const r2 = await loadRunner({ modelDir: ckpt, threads: 1 });
    assert.equal(fresh().length, 1);
    const worker = (r2 as unknown as { worker: import('node:worker_threads').Worker }).worker;
    const gone = new Promise((res) => worker.once('exit', res));
    await worker.terminate();
    await gone;
    await new Promise((res) => setTimeout(res, 50));
    assert.deepEqual(fresh(), []);
    await assert.rejects(r2.createSeq(), /model worker exited/);
    await r2.close();
  });

  it('a process that exits without closing its model leaves nothing behind', async () => {
    const { pid, code, out } = await child(load('process.exit(0);'));
    assert.equal(code, 0);
    assert.match(out, /loaded 1/, 'the model had its directory');
    assert.deepEqual(scratch(pid), []);
  });

  it("after SIGKILL the next model on the host sweeps the dead process's directory, and keeps live and other hosts' ones", async () => {
    const { pid, code, out } = await child(load('setInterval(() => {}, 1000); console.log("ready");'), 'ready');
    assert.equal(code, 'SIGKILL');
    assert.match(out, /loaded 1/);
    assert.equal(scratch(pid).length, 1, 'SIGKILL runs no hook: the directory stays');
    const other = join(root, `skipserve-graph-otherhost-${pid}.0-abcdef`);
    mkdirSync(other);
    // A restarted container's process often has its predecessor's pid (1): the start time tells them apart.
    const predecessor = join(root, `skipserve-graph-${host}-${process.pid}.1-abcdef`);
    mkdirSync(predecessor);
    const mine = makeGraphScratch(root);
    assert.deepEqual(scratch(pid), [`skipserve-graph-otherhost-${pid}.0-abcdef`], 'the dead process of this host swept, the other host kept');
    assert.ok(!existsSync(predecessor), 'a dead process whose pid runs again swept');
    assert.deepEqual(sweepStaleScratch(root), [], 'a running process keeps its directory');
    assert.ok(existsSync(mine));
    rmSync(mine, { recursive: true });
    rmSync(other, { recursive: true });
  });

  it('the CLI exits cleanly after a generate, with no scratch left', () => {
    execFileSync(process.execPath, ['bin/skipserve.mjs', 'generate', '--model', ckpt, '--prompt', 'hi', '--max-tokens', '2'], { env, stdio: 'pipe' });
    assert.deepEqual(scratch(), []);
  });
});
