#!/usr/bin/env node
// `npx skipserve <command>`: registers the TypeScript loader, then runs one command. Serving
// commands live in src/cli/ (shipped in the image); the offline tools (data, eval, router, apt) live in
// models/train/, router/ and apt/, above the product, and are absent from the image.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

const COMMANDS = {
  serve: { module: '../src/cli/serve.ts', summary: 'start the HTTP + gRPC server' },
  generate: { module: '../src/cli/generate.ts', summary: 'generate a completion from a prompt' },
  batch: { module: '../src/cli/batch.ts', summary: 'run an OpenAI batch file (JSONL of requests) through the server, offline' },
  profile: { module: '../src/cli/profile.ts', summary: 'measure the per-sublayer latency profile' },
  versions: { module: '../src/cli/versions.ts', summary: 'list, add, promote and roll back model and selector versions' },
  data: { module: '../models/train/generator/cli.ts', summary: 'generate arithmetic word problems (JSONL)', offline: true },
  eval: { module: '../models/train/eval/cli.ts', summary: 'evaluate a model on generated problems', offline: true },
  router: { module: '../router/cli.ts', summary: 'calibrate, train and evaluate the learned router', offline: true },
  apt: { module: '../apt/cli.ts', summary: 'APT rounds: mine weakness cases, preference-train, gate and promote', offline: true },
};

function usage() {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}${c.offline ? ' (offline tool)' : ''}`);
  return `usage: skipserve <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

const [name, ...rest] = process.argv.slice(2);
if (!name || name === '--help' || name === '-h') {
  process.stdout.write(usage());
} else if (!Object.hasOwn(COMMANDS, name)) {
  process.stderr.write(`skipserve: unknown command '${name}'\n\n${usage()}`);
  process.exitCode = 2;
} else {
  const cmd = COMMANDS[name];
  const url = new URL(cmd.module, import.meta.url);
  if (!existsSync(fileURLToPath(url))) {
    process.stderr.write(`skipserve: '${name}' is an offline tool that this installation does not include (${cmd.module.replace('../', '')} is not shipped)\n`);
    process.exitCode = 2;
  } else {
    register();
    const { debugFromEnv } = await import('../src/config.ts');
    try {
      const mod = await import(url.href);
      await mod.run(rest);
    } catch (err) {
      process.stderr.write(`skipserve ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
      if (debugFromEnv()) console.error(err);
      process.exitCode = 1;
    }
  }
}
