/**
 * What the server should load: for each kind, the version named by an operator, else the one the
 * store has promoted, else the files of the `--model` directory. Each kind falls back on its own, so
 * a promoted model serves with the `--model` directory's router files until a selector is promoted.
 */
import { DisabledError, NotFoundError } from '../errors.ts';
import type { PromotedVersions, RequestStore, VersionKind, VersionRecord } from '../store/types.ts';
import { hashModelDir } from '../store/model-hash.ts';
import { directorySelector, type ServedVersion } from './served-versions.ts';
import { versionDir } from './version-cache.ts';

/** The directories to load from and the versions they are. */
export interface ServingTarget {
  model: { dir: string; version: ServedVersion };
  /** Where the router files are read (the selector version's folder, else the `--model` directory). */
  routerDir: string;
  selector: ServedVersion | null;
}

/** The server's own files: the `--model` directory and the name its version is reported under. */
export interface BaseModel {
  dir: string;
  name: string;
}

/** Versions an operator names (POST /admin/reload); absent kinds follow the promoted ones. */
export interface NamedVersions {
  model?: string;
  selector?: string;
}

const served = (v: VersionRecord): ServedVersion => ({ name: v.name, hash: v.hash });

/** The store's version `name` of `kind`, or a NotFoundError naming the field `kind`. */
async function findVersion(store: RequestStore, kind: VersionKind, name: string): Promise<VersionRecord> {
  const v = (await store.versions.list(kind)).find((x) => x.name === name);
  if (!v) throw new NotFoundError(`no ${kind} version named ${name} in the store`, kind);
  return v;
}

/** Per kind: a store version, null for the `--model` directory's files, or 'keep' for what serves now. */
export interface ChosenVersions {
  model: VersionRecord | null | 'keep';
  selector: VersionRecord | null | 'keep';
}

/**
 * Which version of each kind to serve. Without names: the promoted ones (null: `--model`'s files).
 * With names: the named ones; a kind not named keeps what serves now.
 */
export async function chooseVersions(store: RequestStore, named: NamedVersions, promoted: PromotedVersions | null): Promise<ChosenVersions> {
  if (!named.model && !named.selector) return { model: promoted?.model ?? null, selector: promoted?.selector ?? null };
  if (store.engine === 'off') throw new DisabledError('the store is off (--store off): there are no versions to load by name', 'store_off');
  return {
    model: named.model ? await findVersion(store, 'model', named.model) : 'keep',
    selector: named.selector ? await findVersion(store, 'selector', named.selector) : 'keep',
  };
}

/** What serves now, for the kinds a reload keeps. */
export interface CurrentServing {
  modelDir: string;
  routerDir: string;
  versions: { model: ServedVersion; selector: ServedVersion | null };
}

/** Materializes the chosen versions (or hashes the base directory, or keeps `current`) into a target to load. */
export async function resolveTarget(store: RequestStore, base: BaseModel, chosen: ChosenVersions, cacheDir: string, current?: CurrentServing): Promise<ServingTarget> {
  const keep = (kind: string) => {
    if (!current) throw new Error(`nothing serves yet: the ${kind} cannot be kept`);
    return current;
  };
  const m = chosen.model;
  const model =
    m === 'keep'
      ? { dir: keep('model').modelDir, version: keep('model').versions.model }
      : m
        ? { dir: await versionDir(store.versions, m, cacheDir), version: served(m) }
        : { dir: base.dir, version: { name: base.name, hash: await hashModelDir(base.dir) } };
  const s = chosen.selector;
  if (s === 'keep') return { model, routerDir: keep('selector').routerDir, selector: keep('selector').versions.selector };
  if (s) return { model, routerDir: await versionDir(store.versions, s, cacheDir), selector: served(s) };
  return { model, routerDir: base.dir, selector: await directorySelector(base.dir, base.name) };
}
