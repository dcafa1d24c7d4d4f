/**
 * Version operations of the SQLite engine (synchronous, in the store worker). Each change is one
 * immediate transaction that also appends to version_events, whose largest seq is the change
 * counter other processes poll.
 */
import type Database from 'better-sqlite3';
import type { JsonValue, NewVersion, PromotedVersions, VersionFile, VersionKind, VersionRecord } from './types.ts';
import { checkReAdd, rollbackTarget, type VersionEventRow, VersionError, versionFromRow } from './versions.ts';

export class SqliteVersions {
  private readonly get;
  private readonly event;
  private readonly setStatus;
  private readonly retirePromoted;

  constructor(private readonly db: Database.Database) {
    this.get = db.prepare('SELECT * FROM versions WHERE kind = ? AND name = ?');
    this.event = db.prepare('INSERT INTO version_events (kind, name, action, at_ms) VALUES (?, ?, ?, ?)');
    this.setStatus = db.prepare(
      'UPDATE versions SET status = @status, promoted_at_ms = COALESCE(@promoted, promoted_at_ms), report = COALESCE(@report, report) WHERE kind = @kind AND name = @name',
    );
    this.retirePromoted = db.prepare("UPDATE versions SET status = 'retired' WHERE kind = ? AND status = 'promoted'");
  }

  add(v: NewVersion, now: number): VersionRecord {
    return this.db
      .transaction(() => {
        const existing = this.find(v.kind, v.name);
        if (existing) return checkReAdd(existing, v);
        this.db
          .prepare("INSERT INTO versions (kind, name, hash, uri, created_at_ms, status, report) VALUES (?, ?, ?, ?, ?, 'candidate', ?)")
          .run(v.kind, v.name, v.hash, v.uri, now, v.report === undefined ? null : JSON.stringify(v.report));
        const file = this.db.prepare('INSERT INTO version_files (kind, name, path, size, bytes) VALUES (?, ?, ?, ?, ?)');
        for (const f of v.files ?? []) file.run(v.kind, v.name, f.path, f.bytes.byteLength, Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength));
        this.event.run(v.kind, v.name, 'add', now);
        return this.require(v.kind, v.name);
      })
      .immediate();
  }

  list(kind: VersionKind | null): VersionRecord[] {
    const rows = this.db
      .prepare('SELECT * FROM versions WHERE (? IS NULL OR kind = ?) ORDER BY created_at_ms DESC, name DESC')
      .all(kind, kind) as Record<string, unknown>[];
    return rows.map(versionFromRow);
  }

  files(kind: VersionKind, name: string): VersionFile[] {
    const rows = this.db.prepare('SELECT path, bytes FROM version_files WHERE kind = ? AND name = ? ORDER BY path').all(kind, name) as VersionFile[];
    return rows.map((r) => ({ path: r.path, bytes: r.bytes }));
  }

  promoted(): PromotedVersions {
    return this.db.transaction(() => {
      const rows = this.db.prepare("SELECT * FROM versions WHERE status = 'promoted'").all() as Record<string, unknown>[];
      const of = (k: VersionKind) => rows.map(versionFromRow).find((v) => v.kind === k) ?? null;
      return { model: of('model'), selector: of('selector'), seq: this.seq() };
    })();
  }

  promote(kind: VersionKind, name: string, now: number): VersionRecord {
    return this.db
      .transaction(() => {
        const target = this.require(kind, name);
        if (target.status === 'promoted') return target;
        this.retirePromoted.run(kind);
        this.setStatus.run({ status: 'promoted', promoted: now, report: null, kind, name });
        this.event.run(kind, name, 'promote', now);
        return this.require(kind, name);
      })
      .immediate();
  }

  refuse(kind: VersionKind, name: string, report: JsonValue | null, now: number): VersionRecord {
    return this.db
      .transaction(() => {
        const target = this.require(kind, name);
        if (target.status === 'promoted') throw new VersionError('conflict', `${kind} version ${name} is promoted: roll back first`);
        this.setStatus.run({ status: 'refused', promoted: null, report: report === null ? null : JSON.stringify(report), kind, name });
        this.event.run(kind, name, 'refuse', now);
        return this.require(kind, name);
      })
      .immediate();
  }

  rollback(kind: VersionKind, now: number): VersionRecord {
    return this.db
      .transaction(() => {
        const events = this.db
          .prepare("SELECT action, name FROM version_events WHERE kind = ? AND action IN ('promote', 'rollback') ORDER BY seq")
          .all(kind) as VersionEventRow[];
        const name = rollbackTarget(kind, events);
        this.require(kind, name);
        this.retirePromoted.run(kind);
        this.setStatus.run({ status: 'promoted', promoted: now, report: null, kind, name });
        this.event.run(kind, name, 'rollback', now);
        return this.require(kind, name);
      })
      .immediate();
  }

  seq(): number {
    return Number(this.db.prepare('SELECT COALESCE(MAX(seq), 0) FROM version_events').pluck().get());
  }

  private find(kind: VersionKind, name: string): VersionRecord | null {
    const row = this.get.get(kind, name) as Record<string, unknown> | undefined;
    return row ? versionFromRow(row) : null;
  }

  private require(kind: VersionKind, name: string): VersionRecord {
    const v = this.find(kind, name);
    if (!v) throw new VersionError('not_found', `no ${kind} version named ${name}`);
    return v;
  }
}
