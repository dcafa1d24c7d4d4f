/**
 * Runs llama.cpp's own benchmarks for the side-by-side rows of bench:skip: `llama-bench` for batch-1
 * decode at a context depth, `llama-batched-bench` for B sequences decoding together. Binaries come
 * from LLAMA_BENCH (and LLAMA_BATCHED_BENCH, else the llama-batched-bench next to it); nothing of
 * llama.cpp is part of this repository. Each call is one short run, so the caller can interleave it
 * with its own variants round-robin.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface LlamaCppBins {
  bench: string;
  batched: string | null;
}

/** The binaries named by the environment, or why there are none. */
export function llamaCppFromEnv(env = process.env): LlamaCppBins | { missing: string } {
  const bench = env.LLAMA_BENCH;
  if (!bench) return { missing: 'no llama.cpp build given (set LLAMA_BENCH=/path/to/llama-bench, optionally LLAMA_GGUF=/path/to/model.gguf)' };
  if (!existsSync(bench)) return { missing: `LLAMA_BENCH=${bench} does not exist` };
  const sibling = join(dirname(bench), 'llama-batched-bench');
  const batched = env.LLAMA_BATCHED_BENCH ?? (existsSync(sibling) ? sibling : null);
  return { bench, batched };
}

function lastJson(r: { stdout: string; stderr: string }, what: string): Record<string, number> {
  // Results are single-line JSON objects; log lines can share stdout, so take the last object found.
  const found = r.stdout.match(/\{"[^\n]*\}/g);
  if (!found) throw new Error(`${what}: no JSON result in its output: ${r.stdout.slice(-300)} ${r.stderr.slice(-300)}`);
  return JSON.parse(found[found.length - 1]) as Record<string, number>;
}

/** Decode tokens/s of one sequence after `depth` tokens of context (llama-bench tg at depth). */
export function llamaDecode(bins: LlamaCppBins, gguf: string, o: { threads: number; depth: number; tokens: number; poll: number }): number {
  const args = ['-m', gguf, '-t', String(o.threads), '-p', '0', '-n', String(o.tokens), '-d', String(o.depth), '-r', '1', '--poll', String(o.poll), '-o', 'jsonl'];
  const r = spawnSync(bins.bench, args, { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`llama-bench failed (${r.status}): ${r.stderr.slice(-400)}`);
  return lastJson(r, 'llama-bench').avg_ts;
}

/** Total decode tokens/s of `batch` sequences with `depth` prompt tokens each (llama-batched-bench S_TG). */
export function llamaBatchedDecode(bins: LlamaCppBins, gguf: string, o: { threads: number; depth: number; tokens: number; batch: number }): number {
  if (!bins.batched) throw new Error('llama-batched-bench not found (set LLAMA_BATCHED_BENCH)');
  const ctx = (o.depth + o.tokens) * o.batch + 64;
  const args = ['-m', gguf, '-t', String(o.threads), '-c', String(ctx), '-npp', String(o.depth), '-ntg', String(o.tokens), '-npl', String(o.batch), '--output-format', 'jsonl'];
  // Its results go through llama.cpp's asynchronous logger, which sometimes exits before printing
  // them (status 0, empty stdout): run again, up to three times.
  for (let attempt = 1; ; attempt++) {
    const r = spawnSync(bins.batched, args, { encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) throw new Error(`llama-batched-bench failed (${r.status}): ${r.stderr.slice(-400)}`);
    if (attempt < 3 && !r.stdout.includes('speed_tg')) continue;
    return lastJson(r, 'llama-batched-bench').speed_tg;
  }
}
