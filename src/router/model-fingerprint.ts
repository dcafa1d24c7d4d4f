/**
 * A fingerprint of a checkpoint's weights (SHA-256 over its safetensors files), so that resumable
 * calibration and evaluation runs never mix records of two models that share a name and a shape
 * (a retrained default model, say).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const cache = new Map<string, string>();

/** First 16 hex digits of the SHA-256 of the directory's *.safetensors files, in name order. */
export function modelFingerprint(dir: string): string {
  const files = readdirSync(dir).filter((n) => n.endsWith('.safetensors')).sort();
  // Remembered per file set and modification, so weights replaced in place are hashed again.
  const key = [dir, ...files.map((f) => { const s = statSync(join(dir, f)); return `${f}:${s.size}:${s.mtimeMs}`; })].join('\0');
  const hit = cache.get(key);
  if (hit) return hit;
  const h = createHash('sha256');
  for (const f of files) h.update(readFileSync(join(dir, f)));
  const out = h.digest('hex').slice(0, 16);
  cache.set(key, out);
  return out;
}

/** First 16 hex digits of the SHA-256 of one file's bytes (a selector, an ensemble list), or null when it does not exist. */
export function fileFingerprint(path: string): string | null {
  return existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16) : null;
}
