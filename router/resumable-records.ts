/**
 * The resume files of the router's evaluations: a JSONL file whose first line is the settings it
 * was made with (a header) and whose other lines are per-problem results, appended as they finish.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Reads the results of a file made with exactly this header, keyed by `keyOf` (a missing file is
 * created with the header; another header is an error naming the file and `what` it depends on).
 */
export function readResumable<T>(path: string, header: unknown, keyOf: (r: T) => string, what: string): Map<string, T> {
  const done = new Map<string, T>();
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify(header) + '\n');
    return done;
  }
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim());
  if (lines[0] !== JSON.stringify(header)) throw new Error(`${path} was made with other settings (${what}); delete it or run with --fresh`);
  for (const line of lines.slice(1)) {
    try {
      const r = JSON.parse(line) as T;
      done.set(keyOf(r), r);
    } catch {
      // an interrupted write
    }
  }
  return done;
}
