/**
 * `npm run bench:speedup-drift`: does the reported speedup hold while the machine's load moves?
 * Sends one skip-core request after another to an engine in this process (no full-model request,
 * so only the speedup meter's probes measure the full model), and halfway through the first part
 * starts a busy-loop process beside it (other work on the machine), stopped after the middle part.
 * Prints, per part (before / with the busy loop / after), the reported speedups' median, spread
 * (10th-90th percentile) and range, and the requests' median wall time. A report that follows the
 * machine's load (not the core's saving) moves with the wall times.
 *
 * --model DIR (models/default), --policy NAME (latency-budget), --target T (1.4), --n N (8),
 * --max-tokens T (64), --seconds S (each part, 20), --threads N (2), --callers K (1: one request at
 * a time; K callers of the same core share its steps, whose dense equivalent comes from the dense
 * windows' means instead of the ratio).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { openLocalEngine } from '../src/engine/local-engine.ts';
import { quantile } from '../src/plans/latency-profile.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' }, policy: { type: 'string' }, target: { type: 'string' }, n: { type: 'string' },
    'max-tokens': { type: 'string' }, seconds: { type: 'string' }, threads: { type: 'string' }, callers: { type: 'string' },
  },
});
const seconds = Number(values.seconds ?? 20);
const callers = Number(values.callers ?? 1);
const local = await openLocalEngine({ modelDir: values.model ?? 'models/default', threads: Number(values.threads ?? 2), maxBatch: 16 * callers, maxQueue: 100 });
const spec = {
  prompt: { kind: 'chat' as const, messages: [{ role: 'user' as const, content: 'Q: Leo has 7386 hats. He loses 50% of his hats. How many hats does Leo have now?' }] },
  n: Number(values.n ?? 8),
  maxTokens: Number(values['max-tokens'] ?? 64),
  ignoreEos: true,
  temperature: 0.7,
  seed: 3,
  skip: { policy: values.policy ?? 'latency-budget', targetSpeedup: Number(values.target ?? 1.4) },
};

const parts = ['before', 'busy loop beside', 'after'] as const;
const rows: { part: string; reported: number[]; ms: number[] }[] = parts.map((part) => ({ part, reported: [], ms: [] }));
let hog: ChildProcess | null = null;
await local.generate(spec); // the core's first request builds its graph: not this bench's subject
const t0 = performance.now();
try {
  for (let p = 0; p < parts.length; p++) {
    if (p === 1) hog = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
    if (p === 2) hog?.kill();
    const caller = async (c: number) => {
      while (performance.now() - t0 < (p + 1) * seconds * 1000) {
        const a = performance.now();
        const r = await local.generate({ ...spec, seed: spec.seed + 100 * c });
        if (r.speedup !== null) rows[p]!.reported.push(r.speedup);
        rows[p]!.ms.push(performance.now() - a);
      }
    };
    await Promise.all(Array.from({ length: callers }, (_, c) => caller(c)));
  }
} finally {
  hog?.kill();
  await local.close();
}
console.log(`${spec.skip.policy} ${spec.skip.targetSpeedup}x, n ${spec.n}, ${spec.maxTokens} tokens, ${callers} caller(s), ${seconds} s per part, only skip-core requests`);
console.log('part               requests  reported median  p10-p90      range        wall ms median');
for (const r of rows) {
  const rep = r.reported;
  console.log(
    `${r.part.padEnd(19)}${String(rep.length).padStart(8)}  ${quantile(rep, 0.5).toFixed(2).padStart(15)}  ${quantile(rep, 0.1).toFixed(2)}-${quantile(rep, 0.9).toFixed(2)}    ${Math.min(...rep).toFixed(2)}-${Math.max(...rep).toFixed(2)}    ${quantile(r.ms, 0.5).toFixed(0).padStart(6)}`,
  );
}
