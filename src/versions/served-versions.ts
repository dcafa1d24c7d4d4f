/**
 * The model and selector versions a running engine serves: a name and a content hash each. Records
 * and metrics carry them as labels (`name@` + the hash's first 12 hex digits), short enough for a
 * metric label and precise enough to tell two builds of the same name apart.
 */
import { basename } from 'node:path';
import { hashModelDir, hashSelectorDir, selectorFiles } from '../store/model-hash.ts';

/** One served version: its name (the store's, or the directory's) and content hash (`sha256:<hex>`). */
export interface ServedVersion {
  name: string;
  hash: string;
}

/** What an engine serves: a model, and a selector when one is loaded. */
export interface ServedVersions {
  model: ServedVersion;
  selector: ServedVersion | null;
}

/** `name@0123456789ab`: the label of a version in records, metrics and logs ('none' for no selector). */
export function versionLabel(v: ServedVersion | null): string {
  if (!v) return 'none';
  return `${v.name}@${v.hash.replace(/^sha256:/, '').slice(0, 12)}`;
}

/** True when both name the same version (same name and bytes), or both are absent. */
export function sameVersion(a: ServedVersion | null, b: ServedVersion | null): boolean {
  return a === null || b === null ? a === b : a.name === b.name && a.hash === b.hash;
}

/** The selector version of a directory's router files (named `name`), or null when it has no selector.onnx. */
export async function directorySelector(dir: string, name: string): Promise<ServedVersion | null> {
  return selectorFiles(dir).includes('selector.onnx') ? { name, hash: await hashSelectorDir(dir) } : null;
}

/**
 * The versions of files served straight from directories (no store): the model's name is `name`
 * (default: the directory's), its hash that of the checkpoint files; the selector is the router
 * files of `routerDir`, named like the model, or null when there is no selector.onnx.
 */
export async function directoryVersions(modelDir: string, routerDir: string, name = basename(modelDir)): Promise<ServedVersions> {
  return { model: { name, hash: await hashModelDir(modelDir) }, selector: await directorySelector(routerDir, name) };
}
