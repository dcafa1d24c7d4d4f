/**
 * A directory as a new model or selector version: its content hash, its files (the checkpoint files
 * of a model; selector.onnx and the router files of a selector) read for the store, and a default
 * name from the directory and the hash. Used by `skipserve versions add` and the tools that register
 * what they trained.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { hashModelDir, hashSelectorDir, modelFiles, selectorFiles } from '../store/model-hash.ts';
import type { NewVersion, VersionKind } from '../store/types.ts';

/** A version name from a directory and hash: letters, digits, '.', '_', '-' only. */
export function defaultVersionName(dir: string, hash: string): string {
  const stem = basename(resolve(dir)).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'version';
  return `${stem}-${hash.replace(/^sha256:/, '').slice(0, 8)}`;
}

/**
 * The version of `kind` that directory `dir` holds, with its files unless `byUri` (then every replica
 * must read `dir` itself). Also returns the files' total size in bytes.
 */
export async function versionFromDir(kind: VersionKind, dir: string, opts: { name?: string; byUri?: boolean } = {}): Promise<{ version: NewVersion; bytes: number }> {
  const abs = resolve(dir);
  const hash = kind === 'model' ? await hashModelDir(abs) : await hashSelectorDir(abs);
  const paths = kind === 'model' ? modelFiles(abs) : selectorFiles(abs);
  const files = opts.byUri ? undefined : paths.map((path) => ({ path, bytes: readFileSync(join(abs, path)) }));
  const bytes = paths.reduce((s, p) => s + statSync(join(abs, p)).size, 0);
  return { version: { kind, name: opts.name ?? defaultVersionName(abs, hash), hash, uri: abs, files }, bytes };
}
