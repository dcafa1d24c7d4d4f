/**
 * CLI dispatcher: `skipserve <command> [...args]`. Each command lives in its own module under
 * src/cli/ and exports `run(argv)`; modules are loaded lazily so one command's dependencies
 * never slow down another's start.
 */
const COMMANDS: Record<string, { module: string; summary: string }> = {
  serve: { module: './cli/serve.ts', summary: 'start the HTTP + gRPC server' },
  generate: { module: './cli/generate.ts', summary: 'generate a completion from a prompt' },
  data: { module: './cli/data.ts', summary: 'generate arithmetic word problems (JSONL)' },
  eval: { module: './cli/eval.ts', summary: 'evaluate a model on generated problems' },
  router: { module: './cli/router.ts', summary: 'calibrate, train and evaluate the learned router' },
  profile: { module: './cli/profile.ts', summary: 'measure the per-sublayer latency profile' },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: skipserve <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

/** Runs one CLI command; exits non-zero with a clear message on failure. */
export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`skipserve: unknown command '${name}'\n\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  try {
    const mod = (await import(cmd.module)) as { run: (args: string[]) => Promise<void> };
    await mod.run(rest);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`skipserve ${name}: ${message}\n`);
    if (process.env.SKIPSERVE_DEBUG) console.error(err);
    process.exitCode = 1;
  }
}
