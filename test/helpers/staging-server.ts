/**
 * Starts the real skipserve server (bin/skipserve.mjs serve) on loopback for the staging tests:
 * free ports, the default model when models/default is present (else a small random checkpoint
 * from make-checkpoint.ts), an A/B arms file, and a clean SIGTERM shutdown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCheckpoint } from '../../testkit/make-checkpoint.ts';

const ROOT = join(import.meta.dirname, '..', '..');

export interface StagingServer {
  baseUrl: string;
  grpcAddr: string;
  model: string;
  /** The arms file the server was started with. */
  armsFile: string;
  log: () => string;
  stop: () => Promise<void>;
}

/** A port the OS just handed out on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The model directory the staging tests serve. */
export function stagingModel(): string {
  const dflt = join(ROOT, 'models', 'default');
  if (existsSync(join(dflt, 'config.json'))) return dflt;
  return makeCheckpoint({ layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, maxPositions: 256 });
}

/** Starts the server and resolves once GET /ready answers 200 (or rejects with its log). */
export async function startStagingServer(arms: object, timeoutMs = 180_000): Promise<StagingServer> {
  const [http, grpc] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'skipserve-staging-'));
  const armsFile = join(dir, 'arms.json');
  writeFileSync(armsFile, JSON.stringify(arms));
  const model = stagingModel();
  let output = '';
  const child: ChildProcess = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'skipserve.mjs'), 'serve', '--model', model, '--host', '127.0.0.1', '--http-port', String(http), '--grpc-port', String(grpc), '--log-level', 'warn', '--store', 'off'],
    { cwd: ROOT, env: { ...process.env, SKIPSERVE_ARMS_FILE: armsFile }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const baseUrl = `http://127.0.0.1:${http}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before ready:\n${output}`);
    try {
      const res = await fetch(`${baseUrl}/ready`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server not ready after ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    baseUrl,
    grpcAddr: `127.0.0.1:${grpc}`,
    model,
    armsFile,
    log: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
