/**
 * End-to-end speedup of a policy, measured: the same request (prompt, n, seed, token count) is sent
 * with the policy and on the full model, alternately (which goes first alternates too, so drift in
 * the machine's load hits both alike), one request at a time, generating exactly the same number of
 * tokens (end-of-sequence ignored). The speedup is the median of the per-pair ratios full wall time
 * / policy wall time; the engine's own reported speedup of the same requests is kept beside it.
 */
import type { LocalEngine } from '../src/engine/local-engine.ts';
import type { RequestSpec } from '../src/engine/types.ts';
import { promptIds, promptSpec, type RouterPrompt } from './problems.ts';
import type { EvalConfig } from './eval.ts';
import { problemSeed } from './eval.ts';

export interface SpeedSettings {
  seed: number;
  temperature: number;
  /** Tokens generated per candidate (end-of-sequence ignored). */
  maxTokens: number;
  /** Rounds over the problems. */
  rounds: number;
}

export interface EndToEndSpeed {
  /** Median of full / policy wall time over the pairs. */
  speedup: number;
  /** Median wall times (ms). */
  policyMs: number;
  fullMs: number;
  /** Median speedup the engine reported for the policy's requests (null when none). */
  reported: number | null;
  pairs: number;
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function timed(local: LocalEngine, spec: RequestSpec): Promise<{ ms: number; speedup: number | null }> {
  const t0 = performance.now();
  const r = await local.generate(spec);
  return { ms: performance.now() - t0, speedup: r.speedup };
}

/** Alternates the configuration's request with the same request on the full model over `problems`. */
export async function measureEndToEnd(local: LocalEngine, problems: readonly RouterPrompt[], cfg: EvalConfig, n: number, s: SpeedSettings): Promise<EndToEndSpeed> {
  const ratios: number[] = [];
  const pol: number[] = [];
  const full: number[] = [];
  const reported: number[] = [];
  for (let round = 0; round < s.rounds; round++) {
    for (const [j, p] of problems.entries()) {
      const room = local.info.maxPositions - promptIds(local, p).length - 1;
      const base: RequestSpec = {
        prompt: promptSpec(local, p),
        n,
        temperature: cfg.temperature ?? s.temperature,
        maxTokens: Math.max(1, Math.min(s.maxTokens, room)),
        ignoreEos: true,
        seed: problemSeed(s.seed, j),
      };
      const withPolicy = () => timed(local, { ...base, skip: cfg.skip });
      const onFull = () => timed(local, { ...base, skip: { policy: 'none' } });
      const policyFirst = (round + j) % 2 === 0;
      const a = await (policyFirst ? withPolicy() : onFull());
      const b = await (policyFirst ? onFull() : withPolicy());
      const [x, y] = policyFirst ? [a, b] : [b, a];
      pol.push(x.ms);
      full.push(y.ms);
      ratios.push(y.ms / x.ms);
      if (x.speedup !== null) reported.push(x.speedup);
    }
  }
  return { speedup: median(ratios), policyMs: median(pol), fullMs: median(full), reported: reported.length ? median(reported) : null, pairs: ratios.length };
}
