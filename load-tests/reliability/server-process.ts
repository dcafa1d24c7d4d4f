/**
 * The server under test: the real CLI (`node bin/skipserve.mjs serve`) started as a child process
 * on loopback, with its HTTP and gRPC addresses read from the "skipserve listening" log line. Also
 * what the parts read from outside: its RSS (/proc/PID/status), its /metrics, whether it crashed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Repository root (two folders above this file). */
export const REPO_ROOT = join(import.meta.dirname, '..', '..');

export interface ServerOptions {
  model: string;
  maxBatch: number;
  maxQueue: number;
  drainTimeoutS?: number;
  /** Extra CLI flags, appended last. */
  extraArgs?: string[];
  /** Most seconds to wait for the listening line. */
  startTimeoutS?: number;
}

export interface ServerUnderTest {
  child: ChildProcess;
  pid: number;
  /** e.g. http://127.0.0.1:41234 */
  http: string;
  /** e.g. 127.0.0.1:41235 */
  grpc: string;
  /** The exact command line, for the report. */
  command: string;
  /** Exit code / signal once it exited; null while running. */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | null;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** stdout + stderr so far (capped at the last 2 MB). */
  output(): string;
  /** Stops it (SIGTERM, then SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
}

/** The flags every part passes: loopback, ephemeral ports, one intra-op thread, no startup profile. */
export function serverArgs(o: ServerOptions): string[] {
  return [
    'bin/skipserve.mjs', 'serve', '--model', o.model, '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0',
    '--max-batch', String(o.maxBatch), '--max-queue', String(o.maxQueue), '--drain-timeout', String(o.drainTimeoutS ?? 30),
    '--threads', '1', '--log-level', 'info', ...(o.extraArgs ?? []),
  ];
}

/** Starts the server and waits until it listens; rejects with its output when it exits or stalls first. */
export async function startServer(o: ServerOptions): Promise<ServerUnderTest> {
  const args = serverArgs(o);
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const append = (b: Buffer) => {
    out += b.toString();
    if (out.length > 4_000_000) out = out.slice(-2_000_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      res(exitInfo);
    }),
  );
  const addr = await new Promise<{ http: string; grpc: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not listen within ${o.startTimeoutS ?? 120} s:\n${out.slice(-4000)}`)), (o.startTimeoutS ?? 120) * 1000);
    const check = () => {
      const line = out.split('\n').find((l) => l.includes('skipserve listening'));
      if (!line) return;
      const http = /"http":"(http:\/\/[^"]+)"/.exec(line)?.[1];
      const grpc = /"grpc":"([^"]+)"/.exec(line)?.[1];
      if (!http || !grpc) return;
      clearTimeout(timer);
      child.stdout!.off('data', check);
      resolve({ http, grpc });
    };
    child.stdout!.on('data', check);
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`server exited before listening (code ${e.code}, signal ${e.signal}):\n${out.slice(-4000)}`));
    });
  });
  return {
    child,
    pid: child.pid!,
    http: addr.http,
    grpc: addr.grpc,
    command: `node ${args.map((a) => (a === '' ? "''" : a)).join(' ')}`,
    exit: () => exitInfo,
    exited,
    output: () => out,
    async stop(graceMs = 15000) {
      if (exitInfo) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resident set size of a process in bytes (VmRSS of /proc/PID/status); null when unreadable. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Fetches /metrics as text (throws on a non-200 or after `timeoutMs`). */
export async function scrape(http: string, timeoutMs = 10000): Promise<string> {
  const res = await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

/** Sum of every sample of `name` whose labels include all of `labels` (0 when absent). */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const labelText = rest[0] === '{' ? rest.slice(1, rest.indexOf('}')) : '';
    if (!Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}

/** skipserve_requests_total by outcome label. */
export function outcomes(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^skipserve_requests_total\{([^}]*)\} (\S+)$/gm)) {
    const outcome = /outcome="([^"]*)"/.exec(m[1]!)?.[1] ?? '?';
    out[outcome] = (out[outcome] ?? 0) + Number(m[2]);
  }
  return out;
}

/** GET `path`; returns the status, or 0 when the connection failed. */
export async function getStatus(http: string, path: string, timeoutMs = 5000): Promise<number> {
  try {
    const res = await fetch(`${http}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}
