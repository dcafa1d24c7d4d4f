/**
 * Makes a stored version loadable on this machine: its files, read from the store, are written into
 * a writable cache directory (the pod's /tmp), one folder per content hash, checked against the
 * version's hash before they are used, and moved into place atomically, so a crash or a second
 * process never leaves a half-written version that looks complete. A version registered without
 * files is loaded from its `uri` (a directory every replica can read), after the same check.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashModelDir, hashSelectorDir } from '../store/model-hash.ts';
import type { VersionKind, VersionRecord, VersionStore } from '../store/types.ts';

/** Marks a cache folder whose files were checked against the version hash. */
const COMPLETE = '.complete';

/** The content hash of a version's directory, by the rule of its kind. */
export function hashVersionDir(kind: VersionKind, dir: string): Promise<string> {
  return kind === 'model' ? hashModelDir(dir) : hashSelectorDir(dir);
}

const hex = (hash: string) => hash.replace(/^sha256:/, '');

/** Where a version's files are cached: `<cacheDir>/<kind>/<hash hex>`. */
export function cachePath(cacheDir: string, kind: VersionKind, hash: string): string {
  return join(cacheDir, kind, hex(hash));
}

async function checked(kind: VersionKind, dir: string, v: VersionRecord): Promise<void> {
  const got = await hashVersionDir(kind, dir);
  if (got !== v.hash) throw new Error(`${kind} version ${v.name}: files in ${dir} hash to ${got}, not ${v.hash}`);
}

/**
 * The directory to load version `v` from: its cache folder (filled from the store when missing), or
 * its `uri` when the store holds no files for it. Rejects when the files do not match the hash.
 */
export async function versionDir(store: VersionStore, v: VersionRecord, cacheDir: string): Promise<string> {
  const final = cachePath(cacheDir, v.kind, v.hash);
  if (existsSync(join(final, COMPLETE))) return final;
  const files = await store.files(v.kind, v.name);
  if (files.length === 0) {
    const dir = v.uri.startsWith('file:') ? fileURLToPath(v.uri) : v.uri;
    if (!existsSync(dir)) throw new Error(`${v.kind} version ${v.name} has no files in the store and ${dir} does not exist here`);
    await checked(v.kind, dir, v);
    return dir;
  }
  await mkdir(join(cacheDir, v.kind), { recursive: true });
  const tmp = await mkdtemp(join(cacheDir, v.kind, '.tmp-'));
  try {
    for (const f of files) {
      await mkdir(dirname(join(tmp, f.path)), { recursive: true });
      await writeFile(join(tmp, f.path), f.bytes);
    }
    await checked(v.kind, tmp, v);
    writeFileSync(join(tmp, COMPLETE), `${v.kind} ${v.name} ${v.hash}\n`);
    if (existsSync(join(final, COMPLETE))) {
      rmSync(tmp, { recursive: true, force: true });
      return final;
    }
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    // Another process may have put the same version in place meanwhile: that copy is as good.
    if (existsSync(join(final, COMPLETE))) return final;
    throw err;
  }
  return final;
}

/**
 * Removes cached versions of `kind` other than `keep` (hashes), and temp folders older than an hour
 * (an interrupted copy). Folders in use are kept by the caller naming them; errors are ignored.
 */
export function pruneCache(cacheDir: string, kind: VersionKind, keep: readonly string[]): void {
  const root = join(cacheDir, kind);
  if (!existsSync(root)) return;
  const kept = new Set(keep.map(hex));
  for (const name of readdirSync(root)) {
    const path = join(root, name);
    try {
      if (name.startsWith('.tmp-') ? Date.now() - statSync(path).mtimeMs > 3_600_000 : !kept.has(name)) rmSync(path, { recursive: true, force: true });
    } catch {
      // A folder another process is using or removing: leave it.
    }
  }
}

/** Creates the cache directory, failing with a message naming the setting when it is not writable. */
export function ensureCacheDir(cacheDir: string): void {
  try {
    mkdirSync(cacheDir, { recursive: true });
    const probe = join(cacheDir, `.probe-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (err) {
    throw new Error(`the version cache directory ${cacheDir} is not writable (set --version-cache-dir): ${(err as Error).message}`);
  }
}
