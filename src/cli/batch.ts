/**
 * `skipserve batch -i requests.jsonl -o results.jsonl [--concurrency N] [serve options]`: OpenAI's
 * batch file format run offline, as vLLM's `run_batch` does. The server starts in this process on
 * a loopback port (the same code and engine as `serve`, so a line's answer is what the API gives),
 * the lines go to it `--concurrency` at a time (default twice `--max-batch`: the engine batches
 * them), and the output lines are written in input order. Without `--store` nothing is recorded;
 * logs go to stderr at `warn` unless `--log-level` says otherwise.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import pino from 'pino';
import { loadConfig } from '../config.ts';
import { startServer } from '../api/server.ts';
import { runBatchLine, type BatchOutput } from './batch-line.ts';
import { ProgressBar } from './progress.ts';

const USAGE = 'usage: skipserve batch -i REQUESTS.jsonl -o RESULTS.jsonl [--concurrency N] [serve options: --model DIR, --max-batch N, ...]';

/** Splits the batch's own flags from the server's. */
function parse(argv: string[]): { input: string; output: string; concurrency: number | null; serverArgs: string[] } {
  const own: Record<string, string> = {};
  const serverArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const name = { '-i': 'input', '--input': 'input', '-o': 'output', '--output': 'output', '--concurrency': 'concurrency' }[flag];
    if (!name) {
      serverArgs.push(a);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
    own[name] = value;
  }
  if (!own.input || !own.output) throw new Error(`-i and -o are required\n${USAGE}`);
  const concurrency = own.concurrency === undefined ? null : Number(own.concurrency);
  if (concurrency !== null && !(Number.isInteger(concurrency) && concurrency >= 1)) throw new Error(`--concurrency must be an integer >= 1, got '${own.concurrency}'`);
  return { input: own.input, output: own.output, concurrency, serverArgs };
}

/** The output file, opened (an unwritable path fails here, before the server starts). */
async function openOutput(file: string): Promise<NodeJS.WritableStream> {
  const s = createWriteStream(file);
  await new Promise((resolve, reject) => {
    s.once('open', resolve);
    s.once('error', reject);
  });
  return s;
}

async function countLines(file: string): Promise<number> {
  let n = 0;
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) if (line.trim() !== '') n++;
  return n;
}

export async function run(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const o = parse(argv);
  const named = (flag: string, env: string) => o.serverArgs.some((a) => a === flag || a.startsWith(`${flag}=`)) || !!process.env[env];
  const config = {
    ...loadConfig(o.serverArgs),
    host: '127.0.0.1',
    httpPort: 0,
    grpcPort: -1,
    apiKey: undefined,
    apiKeysFile: undefined,
    ...(named('--store', 'SKIPSERVE_STORE') ? {} : { store: 'off' }),
  };
  // Progress against the file's line count (a first, cheap pass; none when reading stdin). The
  // input and output are checked before the server starts, so a bad path leaves nothing to shut down.
  const progress = o.input === '-' ? null : new ProgressBar('batch', await countLines(o.input));
  const out = o.output === '-' ? process.stdout : await openOutput(o.output);
  const log = pino({ level: named('--log-level', 'SKIPSERVE_LOG_LEVEL') ? config.logLevel : 'warn' }, pino.destination(2));
  const server = await startServer(config, log);
  const base = `http://127.0.0.1:${server.httpPort}`;
  const concurrency = o.concurrency ?? 2 * config.maxBatch;
  const done = new Map<number, BatchOutput>();
  const counts = { ok: 0, failed: 0 };
  let next = 0;
  let written = 0;
  const inFlight = new Set<Promise<void>>();
  const flush = () => {
    for (let r = done.get(written); r; r = done.get(written)) {
      out.write(`${JSON.stringify(r)}\n`);
      done.delete(written++);
    }
  };
  // Created just before it is read: lines a readline emits before its iterator exists are lost.
  const lines = createInterface({ input: o.input === '-' ? process.stdin : createReadStream(o.input), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (line.trim() === '') continue;
      const index = next++;
      const p = runBatchLine(base, line, index + 1).then((r) => {
        done.set(index, r);
        if (r.response && r.response.status_code < 400) counts.ok++;
        else counts.failed++;
        flush();
        progress?.tick();
      });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      if (inFlight.size >= concurrency) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    flush();
  } finally {
    if (out !== process.stdout) await new Promise<void>((res) => (out as NodeJS.WritableStream).end(res));
    await server.drain(0);
  }
  process.stderr.write(`batch: ${next} lines, ${counts.ok} answered 2xx, ${counts.failed} not (their lines say why)\n`);
}
