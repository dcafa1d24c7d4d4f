/**
 * Opens the store a `--store` value names: `off`, a `postgres://` (or `postgresql://`) URL, or
 * the path of a SQLite file.
 */
import { OffStore } from './off-store.ts';
import { openPostgresStore, type PostgresStoreOptions, redactUrl } from './postgres-store.ts';
import { openSqliteStore } from './sqlite-store.ts';
import type { RequestStore } from './types.ts';

/** Which engine a `--store` value selects. */
export function storeEngine(spec: string): 'off' | 'postgres' | 'sqlite' {
  if (spec === 'off') return 'off';
  if (/^postgres(ql)?:\/\//i.test(spec)) return 'postgres';
  if (spec.trim() === '') throw new Error('--store must be a file path, a postgres:// URL or off');
  return 'sqlite';
}

/** The `--store` value as it may be logged (a URL's password hidden). */
export function describeStore(spec: string): string {
  return storeEngine(spec) === 'postgres' ? redactUrl(spec) : spec;
}

/** Opens the store `spec` names, applying migrations; rejects with a message that says what to fix. */
export async function openStore(spec: string, opts: PostgresStoreOptions = {}): Promise<RequestStore> {
  switch (storeEngine(spec)) {
    case 'off':
      return new OffStore();
    case 'postgres':
      return openPostgresStore(spec, opts);
    case 'sqlite':
      return openSqliteStore(spec, opts);
  }
}
