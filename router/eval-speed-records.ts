/**
 * Resumable end-to-end speed measurements of `router eval`: each measured row (policy, N) is appended
 * to router/eval-speed-records.jsonl under a key of everything its figure depends on (weights,
 * machine and threads, the policy's version and cores, the sample of problems, seed, temperature,
 * rounds, tokens), so a rerun of the same command measures only the rows not yet measured, and a
 * figure from another machine, other weights or another core is never reused.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { EndToEndSpeed } from './eval-speed.ts';

/** What a speed figure depends on; two measurements with equal keys are interchangeable. */
export interface SpeedKey {
  weights: string;
  machine: string;
  label: string;
  version: string | null;
  n: number;
  problems: number;
  seed: number;
  temperature: number;
  rounds: number;
  tokens: number;
}

/** The file of measured rows: read once, appended to as rows are measured. */
export class SpeedRecords {
  private readonly done = new Map<string, EndToEndSpeed>();

  constructor(private readonly path: string) {
    if (!existsSync(path)) return;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const rec = JSON.parse(line) as { key: SpeedKey; speed: EndToEndSpeed };
        this.done.set(JSON.stringify(rec.key), rec.speed);
      } catch {
        // A line cut short by a stop mid-write: that row is measured again.
      }
    }
  }

  get(key: SpeedKey): EndToEndSpeed | undefined {
    return this.done.get(JSON.stringify(key));
  }

  put(key: SpeedKey, speed: EndToEndSpeed): void {
    this.done.set(JSON.stringify(key), speed);
    appendFileSync(this.path, JSON.stringify({ key, speed }) + '\n');
  }
}
