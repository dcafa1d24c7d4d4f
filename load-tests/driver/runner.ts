/**
 * Runs one scenario against a server: `concurrency` workers in a closed loop (like k6 VUs), the same
 * prompts, seeds and arm mapping as the k6 scripts, bounded by a request count and a duration. In-flight
 * requests get `grace` seconds past the duration, then are cancelled and reported as cut.
 */
import type { LoadConfig } from '../shared/config.ts';
import { promptAt } from '../shared/prompts.ts';
import { callerKey } from '../shared/requests.ts';
import { armsForIteration, type Scenario } from '../shared/scenarios.ts';
import type { Sample, Send } from './types.ts';

export interface RunOptions {
  cfg: LoadConfig;
  scenario: Scenario;
  send: Send;
  /** Most requests to send (an iteration that would exceed it is not started). */
  requests: number;
  /** Seconds after which no new iteration starts. */
  durationS: number;
  concurrency: number;
  /** Seconds in-flight requests may run past the duration before being cancelled. */
  graceS: number;
  /** Called after every finished request (progress output). */
  onSample?: (s: Sample) => void;
}

export interface RunResult {
  samples: Sample[];
  wallS: number;
  iterations: number;
}

/** Runs the load; resolves when every started request has finished or been cut. */
export async function runLoad(o: RunOptions): Promise<RunResult> {
  const start = performance.now();
  const stopAt = start + o.durationS * 1000;
  const abort = new AbortController();
  const hardStop = setTimeout(() => abort.abort(), (o.durationS + o.graceS) * 1000);
  const samples: Sample[] = [];
  const arms = o.scenario.arms === 'sticky' ? [] : o.cfg.arms;
  let next = 0;
  let reserved = 0;
  const worker = async () => {
    for (;;) {
      const i = next;
      const batch = armsForIteration(o.scenario, arms, i);
      if (reserved + batch.length > o.requests || performance.now() >= stopAt || abort.signal.aborted) return;
      next += 1;
      reserved += batch.length;
      const key = o.scenario.arms === 'sticky' ? callerKey(o.cfg, i) : undefined;
      for (const arm of batch) {
        const s = await o.send({ prompt: promptAt(i, o.cfg.tier), arm, iteration: i, callerKey: key }, abort.signal);
        samples.push(s);
        o.onSample?.(s);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    clearTimeout(hardStop);
  }
  return { samples, wallS: (performance.now() - start) / 1000, iterations: next };
}
