/**
 * Durability on real engines, with a real crash: a child process writes to the store and is killed
 * with SIGKILL (kill -9). After reopening, every feedback it had acknowledged is there; a store
 * killed in the middle of record batches reopens cleanly, with whole records only (every request
 * has all of its candidates), every batch it reported committed present, and accepts new writes.
 * PostgreSQL server rule: see test/helpers/store-postgres.ts (fails in CI without a URL).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { openStore } from '../src/store/open-store.ts';
import type { SqliteStore } from '../src/store/sqlite-store.ts';
import { minimalRecord } from './helpers/store-fixtures.ts';
import { freshDatabase, pgQuery, postgresForTests } from './helpers/store-postgres.ts';

const CHILD = fileURLToPath(new URL('./helpers/store-child.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'skipserve-durable-'));
const server = await postgresForTests();
const drops: (() => Promise<void>)[] = [];
after(async () => {
  rmSync(root, { recursive: true, force: true });
  for (const d of drops) await d();
});

/** Runs the child until `enough(lines)` holds, then SIGKILLs it; returns every line it printed. */
async function runAndKill(spec: string, mode: string, enough: (lines: string[]) => boolean): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, spec, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  const killed = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child never had enough: last line ${lines.at(-1)}`)), 120_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      if (line.startsWith('error')) reject(new Error(line));
      if (enough(lines) && child.kill('SIGKILL')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((how) => reject(new Error(`child exited by itself (${how})`)));
  });
  try {
    await killed;
  } finally {
    child.kill('SIGKILL');
  }
  assert.equal(await exited, 'SIGKILL');
  return lines;
}

/** Counts requests whose stored candidates do not match their candidate_count (0 = only whole records). */
const TORN = 'SELECT count(*) AS n FROM requests r WHERE candidate_count <> (SELECT count(*) FROM candidates c WHERE c.request_id = r.id)';

const engines = [
  {
    name: 'sqlite',
    skip: undefined as string | undefined,
    fresh: async (tag: string) => join(root, tag, 'store.db'),
    torn: async (spec: string) => {
      const db = new Database(spec, { readonly: true });
      const n = Number((db.prepare(TORN).get() as { n: number }).n);
      db.close();
      return n;
    },
  },
  {
    name: 'postgres',
    skip: server.skip,
    fresh: async () => {
      const db = await freshDatabase(server.url!);
      drops.push(db.drop);
      return db.url;
    },
    torn: async (spec: string) => Number((await pgQuery(spec, TORN))[0].n),
  },
];

for (const engine of engines) {
  describe(`${engine.name} store survives kill -9`, { skip: engine.skip }, () => {
    it('every acknowledged feedback is present after the writer is killed', async () => {
      const spec = await engine.fresh('feedback');
      const lines = await runAndKill(spec, 'feedback', (l) => l.filter((x) => x.startsWith('ack ')).length >= 400);
      const acks = lines.filter((l) => l.startsWith('ack ')).map((l) => l.split(' '));
      const store = await openStore(spec);
      try {
        const byId = new Map<string, Map<string, string | undefined>>();
        for (const [, id] of acks) {
          if (byId.has(id)) continue;
          const rec = await store.getRecord(id);
          byId.set(id, new Map((rec?.feedback ?? []).map((f) => [f.source, f.answer])));
        }
        const missing = acks.filter(([, id, source, answer]) => byId.get(id)!.get(source) !== answer);
        assert.equal(acks.length >= 400, true);
        assert.deepEqual(missing, [], `${missing.length} of ${acks.length} acknowledged feedbacks missing`);
      } finally {
        await store.close();
      }
    });

    it('a store killed in the middle of record batches reopens cleanly with whole records only', async () => {
      const spec = await engine.fresh('records');
      const lines = await runAndKill(spec, 'records', (l) => Number(l.at(-1)?.split(' ')[1] ?? 0) >= 3000);
      const committed = Math.max(...lines.filter((l) => l.startsWith('written ')).map((l) => Number(l.split(' ')[1])));
      const store = await openStore(spec);
      try {
        if (engine.name === 'sqlite') assert.equal(await (store as SqliteStore).integrityCheck(), 'ok');
        assert.equal(await engine.torn(spec), 0);
        for (const i of [0, Math.floor(committed / 2), committed - 1]) assert.equal((await store.getRecord(`r${i}`))?.id, `r${i}`);
        store.record(minimalRecord('after-crash'));
        assert.equal((await store.getRecord('after-crash'))?.id, 'after-crash');
        assert.deepEqual(await store.addFeedback({ id: `r${committed - 1}`, source: 'after', score: 1 }), { status: 'stored', replaced: false });
      } finally {
        await store.close();
      }
    });
  });
}
