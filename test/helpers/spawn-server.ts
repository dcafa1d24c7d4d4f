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

/** Spawns `bin/skipserve.mjs serve ...args`; rejects with its output if it exits before listening. */
export async function spawnServer(args: string[]): Promise<SpawnedServer> {
  const child = spawn(process.execPath, ['bin/skipserve.mjs', 'serve', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
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
