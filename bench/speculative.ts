/**
 * `npm run bench:speculative [-- --model DIR --drafts "4-11:7;2-13:5" --batch 1,8 --count 4 --rounds 5 --max-tokens 200 --tier hard --threads 2 --temperature 0 --top-p 1 --top-k 0 --n 1 --skip JSON --disable-by-batch-size ROWS]`
 *
 * What self-speculative decoding saves end to end: one server with `--speculative-config off` and
 * one per draft (`FIRST-LAST:K` skips layers FIRST..LAST and drafts K tokens; several with `;`;
 * with `--disable-by-batch-size`, each draft's config carries that limit: requests arriving beside
 * more rows decode plainly; without it the drafts speculate at every load),
 * on the same model, sent the same chat requests (the project's problems, `--count` of them;
 * greedy, or `--temperature T [--top-p P --top-k K] --n N` for sampled best-of-N with seed 1) in turn, the order rotating by round. At each batch size B, a round sends B requests at a
 * time until the problems are done (B = 1: one after another). Prints, per variant and batch size,
 * the median round wall time, its ratio to `off` (median of the rounds' ratios), the median over
 * requests of each one's wall time on `off` over its own (same problem, same round), the median of
 * the speedups the server reported, the draft acceptance rate (from /metrics) and whether every answer
 * equals `off`'s (greedy speculation is lossless). Model: --model DIR, else models/default.
 * `--skip JSON` (a request's `skip` object, e.g. `{"policy": "latency-budget", "target_speedup": 1.3}`):
 * the draft servers' requests carry it, so speculation runs on top of that skip core, and a variant
 * `off, skip` sends it to the `off` server (the core without speculation; greedy answers are compared
 * with it), and a variant `DRAFT, full model` sends the draft server's requests without it: the
 * same requests on that server's full model, which is what the speedup a server reports compares
 * with (the column "vs its server's full model"); the other ratios stay against `off` without
 * `skip`, the full model decoding plainly. With `--skip`, a draft's acceptance counts both its variants' requests.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { quantile } from '../src/plans/latency-profile.ts';
import { generateSplit, type TierChoice } from '../models/train/generator/split.ts';
import { spawnServer, type SpawnedServer } from '../testkit/spawn-server.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/default' }, drafts: { type: 'string', default: '4-11:7;2-13:5' }, batch: { type: 'string', default: '1,8' },
    count: { type: 'string', default: '8' }, temperature: { type: 'string', default: '0' }, n: { type: 'string', default: '1' }, rounds: { type: 'string', default: '5' }, 'max-tokens': { type: 'string', default: '200' }, 'top-p': { type: 'string', default: '1' }, 'top-k': { type: 'string', default: '0' }, skip: { type: 'string' }, 'disable-by-batch-size': { type: 'string' }, tier: { type: 'string', default: 'hard' }, threads: { type: 'string', default: '2' },
  },
});
const rounds = Number(values.rounds);
const batches = values.batch!.split(',').map(Number);
const problems = [...generateSplit({ split: 'test', seed: 23, count: Number(values.count), tier: values.tier as TierChoice })];

/** `4-11:7` -> the JSON of --speculative-config. */
function draftConfig(d: string): string {
  const [range, k] = d.split(':');
  const [a, b] = range!.split('-').map(Number);
  const layers = Array.from({ length: b! - a! + 1 }, (_, i) => a! + i);
  const limit = values['disable-by-batch-size'];
  return JSON.stringify({ method: 'skip', draft: { skip_layers: layers }, num_speculative_tokens: Number(k), ...(limit ? { disable_by_batch_size: Number(limit) } : {}) });
}

interface Answer {
  text: string;
  speedup: number;
  /** The request's own wall time (ms, client side). */
  ms: number;
}

async function ask(url: string, question: string, skip?: unknown): Promise<Answer> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: question }], temperature: Number(values.temperature), top_p: Number(values['top-p']), top_k: Number(values['top-k']), n: Number(values.n), seed: 1, max_tokens: Number(values['max-tokens']), ...(skip ? { skip } : {}) }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const r = (await res.json()) as { choices: { message: { content: string } }[]; skip: { speedup: number } };
  return { text: r.choices.map((c) => c.message.content).join('\u0000'), speedup: r.skip.speedup, ms: performance.now() - t0 };
}

/** One round on one server: the problems B at a time; its wall time and answers. */
async function round(url: string, b: number, skip?: unknown): Promise<{ ms: number; answers: Answer[] }> {
  const t0 = performance.now();
  const answers: Answer[] = [];
  for (let i = 0; i < problems.length; i += b) answers.push(...(await Promise.all(problems.slice(i, i + b).map((p) => ask(url, p.question, skip)))));
  return { ms: performance.now() - t0, answers };
}

/** The server's drafted and accepted token counters so far. */
async function specCounters(url: string): Promise<{ drafted: number; accepted: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (name: string) => Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? 0);
  return { drafted: read('skipserve_spec_decode_draft_tokens_total'), accepted: read('skipserve_spec_decode_accepted_tokens_total') };
}

const skip = values.skip ? (JSON.parse(values.skip) as unknown) : undefined;
const drafts = values.drafts!.split(';');
/** Variants: a server (`off` or a draft) and whether its requests carry --skip (`DRAFT, full`: a draft's server without it). */
const FULL = ', full';
const names = ['off', ...(skip ? ['off, skip'] : []), ...drafts, ...(skip ? drafts.map((d) => d + FULL) : [])];
const serverOf = (n: string) => (n === 'off, skip' ? 'off' : n.endsWith(FULL) ? n.slice(0, -FULL.length) : n);
const skipOf = (n: string) => (n === 'off' || n.endsWith(FULL) ? undefined : skip);
/** The same requests on the full model of the same server (what the reported speedup compares with). */
const fullOf = (n: string) => (n === 'off, skip' ? 'off' : skip && drafts.includes(n) ? n + FULL : n);
/** Greedy answers are compared with the same plan's, without speculation. */
const referenceOf = (n: string) => (skipOf(n) ? 'off, skip' : 'off');
const args = ['--model', values.model!, '--http-port', '0', '--grpc-port=-1', '--store', 'off', '--threads', values.threads!, '--max-batch', String(Math.max(...batches) * Number(values.n))];
const servers = new Map<string, SpawnedServer>();
try {
  for (const n of ['off', ...drafts]) servers.set(n, await spawnServer([...args, '--speculative-config', n === 'off' ? 'off' : draftConfig(n)]));
  console.log(`model ${values.model}: ${problems.length} ${values.tier} problems, ${Number(values.temperature) > 0 ? `n ${values.n} sampled at temperature ${values.temperature}, top_p ${values['top-p']}, top_k ${values['top-k']}` : 'greedy'} chat${skip ? `, skip ${values.skip}` : ''}${values['disable-by-batch-size'] ? `, disable_by_batch_size ${values['disable-by-batch-size']}` : ''}, max_tokens ${values['max-tokens']}, ${rounds} rounds per batch size, ${values.threads} threads; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  for (const s of servers.values()) await ask(s.url, problems[0]!.question);
  console.log('\n| batch | variant | round wall (ms, median) | round speedup vs off (median) | request speedup vs off (median) | request speedup vs its server\'s full model (median) | reported speedup (median) | acceptance | answers as off |');
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|---|');
  for (const b of batches) {
    const ms = new Map<string, number[]>(names.map((n) => [n, []]));
    const reported = new Map<string, number[]>(names.map((n) => [n, []]));
    const perRequest = new Map<string, number[]>(names.map((n) => [n, []]));
    const vsFull = new Map<string, number[]>(names.map((n) => [n, []]));
    const same = new Map<string, boolean>(names.map((n) => [n, true]));
    const before = new Map(await Promise.all(drafts.map(async (n) => [n, await specCounters(servers.get(n)!.url)] as const)));
    for (let r = 0; r < rounds; r++) {
      const order = names.map((_, i) => names[(i + r) % names.length]!);
      const out = new Map<string, Awaited<ReturnType<typeof round>>>();
      for (const n of order) out.set(n, await round(servers.get(serverOf(n))!.url, b, skipOf(n)));
      for (const n of names) {
        ms.get(n)!.push(out.get(n)!.ms);
        reported.get(n)!.push(...out.get(n)!.answers.map((a) => a.speedup));
        perRequest.get(n)!.push(...out.get(n)!.answers.map((a, i) => out.get('off')!.answers[i]!.ms / a.ms));
        vsFull.get(n)!.push(...out.get(n)!.answers.map((a, i) => out.get(fullOf(n))!.answers[i]!.ms / a.ms));
        if (out.get(n)!.answers.some((a, i) => a.text !== out.get(referenceOf(n))!.answers[i]!.text)) same.set(n, false);
      }
    }
    for (const n of names) {
      const ratios = ms.get('off')!.map((off, i) => off / ms.get(n)![i]!);
      const b0 = before.get(serverOf(n));
      const after = b0 ? await specCounters(servers.get(serverOf(n))!.url) : null;
      const drafted = b0 ? after!.drafted - b0.drafted : 0;
      const acc = drafted > 0 ? (after!.accepted - b0!.accepted) / drafted : NaN;
      const label = n === 'off' || n === 'off, skip' ? n : `skip layers ${serverOf(n).replace(':', ', k = ')}${skipOf(n) ? ', skip' : skip ? ', full model' : ''}`;
      console.log(`| ${b} | ${label} | ${quantile(ms.get(n)!, 0.5).toFixed(0)} | ${quantile(ratios, 0.5).toFixed(2)} | ${quantile(perRequest.get(n)!, 0.5).toFixed(2)} | ${quantile(vsFull.get(n)!, 0.5).toFixed(2)} | ${quantile(reported.get(n)!, 0.5).toFixed(2)} | ${Number.isNaN(acc) ? '-' : acc.toFixed(3)} | ${Number(values.temperature) > 0 || n === 'off' ? '-' : same.get(n) ? 'identical' : 'DIFFERENT'} |`);
    }
  }
} finally {
  for (const s of servers.values()) s.child.kill('SIGTERM');
}
