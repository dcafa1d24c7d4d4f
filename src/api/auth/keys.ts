/**
 * API keys for both transports: several keys from a file (`--api-keys-file`: one key per line,
 * `#` comments and blank lines ignored), reloaded when the file changes (rotation without a
 * restart; a Kubernetes Secret's symlink swap counts as a change), compared in constant time.
 *
 * Only SHA-256 digests of the keys are kept. A presented token is hashed and compared with every
 * stored digest by crypto.timingSafeEqual over the fixed 32-byte digests, without stopping at a
 * match, so neither the position of a match nor the token's length shows in the timing. Nothing
 * here puts key material in an error or a log line: keys are named by a short fingerprint.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';

/** The one message a refused request gets: it says what to send, never what was wrong with it. */
export const AUTH_FAILURE_MESSAGE = 'missing or invalid API key: send Authorization: Bearer <key>';

/** Longest Authorization header considered; longer ones are refused without hashing. */
export const MAX_AUTHORIZATION_LENGTH = 4096;

/** Shortest key accepted in a keys file. */
export const MIN_KEY_LENGTH = 16;

/** Result of a check: `keyId` is the matching key's fingerprint (safe to log), null when refused. */
export interface KeyCheck {
  ok: boolean;
  keyId: string | null;
}

interface StoredKey {
  digest: Buffer;
  id: string;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Short, stable, non-reversible name of a key for logs: `key-` + 8 hex digits of a salted digest. */
export function keyFingerprint(key: string): string {
  return `key-${createHash('sha256').update('skipserve-key-id\0').update(key, 'utf8').digest('hex').slice(0, 8)}`;
}

/**
 * Parses a keys file: one key per line, `#` starts a comment line, blank lines are skipped,
 * surrounding whitespace is trimmed, duplicates are merged. Throws an Error naming the file and
 * line (never the key) when a key is too short or contains whitespace, or when there is none.
 */
export function parseKeysFile(text: string, source: string): string[] {
  const keys = new Set<string>();
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (/\s/.test(line)) throw new Error(`${source}:${i + 1}: an API key must not contain whitespace`);
    if (line.length < MIN_KEY_LENGTH) throw new Error(`${source}:${i + 1}: an API key must have at least ${MIN_KEY_LENGTH} characters`);
    keys.add(line);
  }
  if (!keys.size) throw new Error(`${source}: no API keys (one key per line; # starts a comment)`);
  return [...keys];
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), or null. */
export function bearerToken(header: string | null | undefined): string | null {
  if (typeof header !== 'string' || header.length > MAX_AUTHORIZATION_LENGTH) return null;
  const m = /^[ \t]*bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m ? m[1]! : null;
}

export interface ApiKeysFileOptions {
  /** How often the file's stat is polled for changes (ms); default 1000. */
  watchIntervalMs?: number;
  /** Called after a successful reload with the number of keys. */
  onReload?: (count: number) => void;
  /** Called when a reload fails; the previous keys stay in force. */
  onError?: (err: Error) => void;
}

/** A set of API keys, optionally backed by a watched file. */
export class ApiKeys {
  private keys: StoredKey[] = [];
  private timer: NodeJS.Timeout | null = null;

  private constructor(private readonly file: string | null) {}

  /** Keys given directly (e.g. the single `--api-key`). Throws when the list is empty. */
  static fromKeys(keys: string[]): ApiKeys {
    if (!keys.length) throw new Error('no API keys given');
    const k = new ApiKeys(null);
    k.set(keys);
    return k;
  }

  /** Loads `file` (throws an Error naming it when unusable) and reloads it whenever it changes. */
  static fromFile(file: string, o: ApiKeysFileOptions = {}): ApiKeys {
    const k = new ApiKeys(file);
    // Polled against the file as it was when loaded (not against a watcher's own first look, which
    // may come after a rotation and then never see it). Stat before read: a change in between is
    // loaded now and once more at the next poll, harmlessly. A missing file counts as a change.
    const key = (st: Pick<Stats, 'mtimeMs' | 'ino' | 'size'> | undefined): string => (st ? `${st.mtimeMs}:${st.ino}:${st.size}` : 'missing');
    let loaded = key(statSync(file, { throwIfNoEntry: false }));
    k.set(k.read()); // a missing or unreadable file fails here, with its name
    let polling = false;
    k.timer = setInterval(() => {
      if (polling) return;
      polling = true;
      stat(file)
        .then((st) => key(st), () => key(undefined))
        .then((now) => {
          if (now === loaded || !k.timer) return;
          loaded = now;
          if (k.reload(o.onError)) o.onReload?.(k.size);
        })
        .finally(() => (polling = false));
    }, o.watchIntervalMs ?? 1000);
    k.timer.unref();
    return k;
  }

  /** Number of keys in force. */
  get size(): number {
    return this.keys.length;
  }

  /** Fingerprints of the keys in force (for the startup log). */
  ids(): string[] {
    return this.keys.map((k) => k.id);
  }

  /** Re-reads the file; on failure keeps the keys in force, reports through `onError`, returns false. */
  reload(onError?: (err: Error) => void): boolean {
    if (!this.file) return false;
    try {
      this.set(this.read());
      return true;
    } catch (err) {
      onError?.(err as Error);
      return false;
    }
  }

  /** Checks an Authorization header value (`Bearer <key>`). */
  verifyAuthorization(header: string | null | undefined): KeyCheck {
    const token = bearerToken(header);
    return token === null ? { ok: false, keyId: null } : this.verifyToken(token);
  }

  /** Checks a bare token against every key in constant time (per key count). */
  verifyToken(token: string): KeyCheck {
    const digest = sha256(token);
    let match: StoredKey | null = null;
    for (const k of this.keys) {
      // No early exit: every stored digest is compared, whatever matched before.
      if (timingSafeEqual(digest, k.digest) && match === null) match = k;
    }
    return match ? { ok: true, keyId: match.id } : { ok: false, keyId: null };
  }

  /** Stops watching the file. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private read(): string[] {
    let text: string;
    try {
      text = readFileSync(this.file!, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the API keys file ${this.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return parseKeysFile(text, this.file!);
  }

  private set(keys: string[]): void {
    this.keys = keys.map((k) => ({ digest: sha256(k), id: keyFingerprint(k) }));
  }
}
