/**
 * Starts `skipserve serve` as a child process (the real CLI, as a user runs it) and waits for its
 * startup log line to name the HTTP address. Shared by the lifecycle test and bench:serve.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface SpawnedServer {
  child: ChildProcess;
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  /** Everything the server has written to stdout so far. */
  output: () => string;
}

/** Where and as whom the server runs (default: this repository, this user, this environment). */
export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
}

/** Spawns `bin/skipserve.mjs serve ...args`; rejects with its output if it exits before listening. */
export async function spawnServer(args: string[], o: SpawnOptions = {}): Promise<SpawnedServer> {
  let out = '';
  const child = spawn(process.execPath, ['bin/skipserve.mjs', 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: o.cwd, env: o.env, uid: o.uid, gid: o.gid });
  child.stderr!.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /"http":"(http:\/\/[^"]+)"/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (c) => reject(new Error(`server exited before listening (${c}):\n${out}`)));
  });
  return { child, url, output: () => out };
}
