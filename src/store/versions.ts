/**
 * Version rules both engines share: the typed error, the row mapping, and how a rollback finds
 * the version to return to (the promotion history is a stack: promote pushes, rollback pops).
 */
import type { JsonValue, NewVersion, VersionKind, VersionRecord, VersionStatus } from './types.ts';

export type VersionErrorCode = 'not_found' | 'conflict' | 'no_previous' | 'invalid' | 'store_off';

/** A version operation that cannot be done; `code` says why (the API maps it to a status). */
export class VersionError extends Error {
  constructor(
    readonly code: VersionErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'VersionError';
  }
}

export const VERSION_KINDS: readonly VersionKind[] = ['model', 'selector'];

/** Rejects a version whose fields are unusable, naming the field. */
export function validateNewVersion(v: NewVersion): void {
  if (!VERSION_KINDS.includes(v.kind)) throw new VersionError('invalid', `kind must be model or selector, got ${JSON.stringify(v.kind)}`);
  for (const field of ['name', 'hash', 'uri'] as const)
    if (typeof v[field] !== 'string' || v[field].length === 0 || v[field].length > 1000)
      throw new VersionError('invalid', `${field} must be a string of 1-1000 characters`);
  if (!isVersionName(v.name))
    throw new VersionError('invalid', `name must be 1-200 letters, digits, '.', '_' or '-' (starting with a letter or digit), got ${JSON.stringify(v.name)}`);
  const seen = new Set<string>();
  for (const f of v.files ?? []) {
    if (typeof f.path !== 'string' || !SAFE_PATH.test(f.path) || f.path.split('/').some((part) => part === '..' || part === '.'))
      throw new VersionError('invalid', `file path ${JSON.stringify(f.path)} must be relative, without '.' or '..' parts`);
    if (seen.has(f.path)) throw new VersionError('invalid', `file ${f.path} is given twice`);
    seen.add(f.path);
    if (!(f.bytes instanceof Uint8Array)) throw new VersionError('invalid', `file ${f.path}: bytes must be a Uint8Array`);
    if (f.bytes.byteLength > MAX_VERSION_FILE_BYTES)
      throw new VersionError('invalid', `file ${f.path} has ${f.bytes.byteLength} bytes; at most ${MAX_VERSION_FILE_BYTES} fit in the store (register the version by uri instead)`);
  }
}

/** A stored file's relative path: plain names separated by '/'. */
const SAFE_PATH = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

/** The largest file a version may store (larger checkpoints are registered by a uri every replica can read). */
export const MAX_VERSION_FILE_BYTES = 512 * 1024 * 1024;

/** Checks a kind given to promote / rollback. */
export function checkKind(kind: VersionKind): void {
  if (!VERSION_KINDS.includes(kind)) throw new VersionError('invalid', `kind must be model or selector, got ${JSON.stringify(kind)}`);
}

/** Whether a version could have this name (every added version's name is checked so). */
export const isVersionName = (name: unknown): boolean => typeof name === 'string' && name.length <= 200 && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name);

/**
 * Checks a version a call names: a name no version can have is not found, without asking the
 * engine (PostgreSQL refuses some strings outright, a NUL among them).
 */
export function checkNamed(kind: VersionKind, name: string): void {
  checkKind(kind);
  if (!isVersionName(name)) throw new VersionError('not_found', `no ${kind} version named ${JSON.stringify(name)}`);
}

export interface VersionEventRow {
  action: string;
  name: string;
}

/**
 * The version a rollback returns to: replays the kind's promote / rollback events in order as a
 * stack and returns the entry below the top. Throws `no_previous` when there is none.
 */
export function rollbackTarget(kind: VersionKind, events: readonly VersionEventRow[]): string {
  const stack: string[] = [];
  for (const e of events) {
    if (e.action === 'promote') stack.push(e.name);
    else if (e.action === 'rollback') stack.pop();
  }
  if (stack.length < 2) throw new VersionError('no_previous', `no earlier promoted ${kind} version to roll back to`);
  return stack[stack.length - 2];
}

/** A versions row (any driver's value types) as a VersionRecord. */
export function versionFromRow(r: Record<string, unknown>): VersionRecord {
  const out: VersionRecord = {
    kind: r.kind as VersionKind,
    name: String(r.name),
    hash: String(r.hash),
    uri: String(r.uri),
    createdAt: Number(r.created_at_ms),
    status: r.status as VersionStatus,
  };
  if (r.promoted_at_ms !== null && r.promoted_at_ms !== undefined) out.promotedAt = Number(r.promoted_at_ms);
  if (r.report !== null && r.report !== undefined) out.report = (typeof r.report === 'string' ? JSON.parse(r.report) : r.report) as JsonValue;
  return out;
}

/** Same kind and name already stored: fine when the hash matches (idempotent add), a conflict otherwise. */
export function checkReAdd(existing: VersionRecord, v: NewVersion): VersionRecord {
  if (existing.hash !== v.hash)
    throw new VersionError('conflict', `${v.kind} version ${v.name} already exists with hash ${existing.hash} (got ${v.hash})`);
  return existing;
}

/** A stable key of the promoted versions, to notify watchers only when it changes. */
export function promotedKey(p: { model: VersionRecord | null; selector: VersionRecord | null }): string {
  return JSON.stringify([p.model?.name ?? null, p.model?.hash ?? null, p.selector?.name ?? null, p.selector?.hash ?? null]);
}
