// `npm test [-- FLAG... FILE...]`: the suite (test/*.test.ts, or the files given) under node's test runner,
// one file at a time, with TMPDIR set to a directory of the run's own that is removed when the run
// ends, so the checkpoints, stores, logs and graph files the tests and their servers write do not
// pile up in the machine's temp dir (before: about 0.35 GB left per run). Exits with the runner's code.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
// Runner flags (e.g. --test-name-pattern=...) pass through; without files the whole suite runs.
const flags = args.filter((a) => a.startsWith('-'));
const files = args.filter((a) => !a.startsWith('-'));
const suite = files.length ? files : readdirSync('test').filter((f) => f.endsWith('.test.ts')).sort().map((f) => join('test', f));
const tmp = mkdtempSync(join(tmpdir(), 'skipserve-tests-'));
chmodSync(tmp, 0o755); // traversable like /tmp: the image test runs its server as an unprivileged user
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...flags, ...suite], { stdio: 'inherit', env: { ...process.env, TMPDIR: tmp } });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
  rmSync(tmp, { recursive: true, force: true });
  process.exitCode = code ?? (signal ? 1 : 0);
});
