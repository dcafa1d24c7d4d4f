/**
 * `npm run bench:prefix-cache [-- --model DIR --prefix 480 --suffix 24 --n 4 --max-tokens 16 --rounds 12 --threads 2 --burst B]`
 *
 * What the prefix cache saves end to end: two servers on the same model, one with the cache (the
 * default, `--prefix-cache-mb 256`) and one without (`--prefix-cache-mb 0`), each sent the same
 * requests in turn (the order alternating by round): a few-shot prompt whose first `--prefix` tokens
 * are the same in every request and whose last `--suffix` tokens are new each round, streamed
 * (completions, token ids, n candidates, `max_tokens` with end-of-sequence ignored). Prints the
 * medians of time to first token and of request wall time (client side), the ratios without / with
 * the cache, and the cached tokens each request reported. One warm-up request per server first
 * (it fills the cache). With `--burst B`, each round sends B requests at once, each with its own
 * question, behind a shared prefix that is new each round: what the cache saves is then only the
 * prefix the first request computes and the others wait for. Model: --model DIR, else models/default.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { quantile } from '../src/plans/latency-profile.ts';
import { spawnServer, type SpawnedServer } from '../testkit/spawn-server.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/default' }, prefix: { type: 'string', default: '480' }, suffix: { type: 'string', default: '24' },
    n: { type: 'string', default: '4' }, 'max-tokens': { type: 'string', default: '16' }, rounds: { type: 'string', default: '12' }, threads: { type: 'string', default: '2' }, burst: { type: 'string', default: '1' },
  },
});
const prefixLen = Number(values.prefix);
const suffixLen = Number(values.suffix);
const rounds = Number(values.rounds);
const burst = Number(values.burst);

/** Token ids in 4..vocab-1 (no special tokens), a seeded walk. */
function ids(count: number, seed: number, vocab: number): number[] {
  let x = seed * 2654435761;
  return Array.from({ length: count }, () => ((x = (x * 1103515245 + 12345) >>> 0), 4 + (x % (vocab - 4))));
}

interface Timed {
  ttftMs: number;
  wallMs: number;
  cached: number;
}

/** One streamed completion; times from the client's send. */
async function send(url: string, prompt: number[]): Promise<Timed> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt, n: Number(values.n), max_tokens: Number(values['max-tokens']), temperature: 0.8, seed: 1, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
  });
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let ttftMs = 0;
  let text = '';
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    if (!ttftMs) ttftMs = performance.now() - t0;
    text += Buffer.from(chunk).toString();
  }
  const wallMs = performance.now() - t0;
  const usage = text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6))).find((m) => m.usage)?.usage;
  return { ttftMs, wallMs, cached: usage?.prompt_tokens_details?.cached_tokens ?? 0 };
}

const args = ['--model', values.model!, '--http-port', '0', '--grpc-port=-1', '--store', 'off', '--threads', values.threads!, '--log-level', 'info'];
const servers: Record<'cache' | 'none', SpawnedServer> = {
  cache: await spawnServer(args),
  none: await spawnServer([...args, '--prefix-cache-mb', '0']),
};
try {
  const vocab = (JSON.parse(readFileSync(join(values.model!, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size;
  const shared = ids(prefixLen, 1, vocab);
  console.log(`model ${values.model}: prompt ${prefixLen} shared + ${suffixLen} new tokens, n ${values.n}, ${values['max-tokens']} tokens, ${rounds} rounds${burst > 1 ? ` of ${burst} requests at once (a new shared prefix each round)` : ''}, ${values.threads} threads; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  for (const s of Object.values(servers)) await send(s.url, [...shared, ...ids(suffixLen, 999, vocab)]);
  const times: Record<'cache' | 'none', Timed[]> = { cache: [], none: [] };
  for (let r = 0; r < rounds; r++) {
    const prefix = burst > 1 ? ids(prefixLen, 2000 + r, vocab) : shared;
    const prompts = Array.from({ length: burst }, (_, i) => [...prefix, ...ids(suffixLen, 1000 + r * burst + i, vocab)]);
    const order: ('cache' | 'none')[] = r % 2 ? ['none', 'cache'] : ['cache', 'none'];
    for (const k of order) times[k].push(...(await Promise.all(prompts.map((p) => send(servers[k].url, p)))));
  }
  const med = (k: 'cache' | 'none', f: keyof Timed) => quantile(times[k].map((t) => t[f]), 0.5);
  console.log('\n| | time to first token (ms) | request wall (ms) | cached prompt tokens |');
  console.log('|---|---:|---:|---:|');
  for (const k of ['none', 'cache'] as const) console.log(`| ${k === 'cache' ? 'prefix cache' : 'no cache'} | ${med(k, 'ttftMs').toFixed(1)} | ${med(k, 'wallMs').toFixed(1)} | ${med(k, 'cached')} |`);
  console.log(`| ratio, no cache / cache | ${(med('none', 'ttftMs') / med('cache', 'ttftMs')).toFixed(2)} | ${(med('none', 'wallMs') / med('cache', 'wallMs')).toFixed(2)} | |`);
} finally {
  for (const s of Object.values(servers)) s.child.kill('SIGTERM');
}
