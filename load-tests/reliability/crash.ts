/**
 * Part "crash": `kill -9` while records and feedback are being written. Writers keep asking for
 * completions and acknowledging feedback on them against a SQLite store; the server is killed with
 * SIGKILL mid-stream, restarted on the same store, and every acknowledged feedback is looked up.
 * Checks: zero acknowledged feedback lost, the store left mid-write comes up clean (the restart
 * listens and takes new writes), and how many answered requests' records survived (records are
 * queued and written in batches: best effort by design).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postCompletion, PROMPTS, sleep } from './clients.ts';
import { pct, row, zeroRow, type PartResult } from './report.ts';
import { startServer, type ServerOptions } from './server-process.ts';

export interface CrashOptions {
  writers: number;
  /** Seconds of writing before the kill. */
  seconds: number;
}

interface Acked {
  id: string;
  source: string;
}

async function feedback(http: string, id: string, source: string): Promise<boolean> {
  try {
    const r = await fetch(`${http}/v1/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id, source, answer: '42' }), signal: AbortSignal.timeout(10_000) });
    return r.status >= 200 && r.status < 300;
  } catch {
    return false;
  }
}

/** Runs the crash part on its own two servers (killed, then restarted on the same store). */
export async function crash(base: Omit<ServerOptions, 'extraArgs'>, o: CrashOptions): Promise<PartResult> {
  const P = 'crash';
  const store = join(mkdtempSync(join(tmpdir(), 'skipserve-crash-')), 'store.sqlite');
  const extraArgs = ['--store', store, '--default-max-tokens', '4'];
  const first = await startServer({ ...base, extraArgs });
  const acked: Acked[] = [];
  const answered: string[] = [];
  let stop = false;
  const writers = Array.from({ length: o.writers }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      const r = await postCompletion(first.http, { prompt: PROMPTS[(w + i) % PROMPTS.length], max_tokens: 4, seed: i }, 10_000);
      const id = r.json?.id as string | undefined;
      if (r.status !== 200 || !id) continue;
      answered.push(id);
      const source = `writer-${w}`;
      if (!stop && (await feedback(first.http, id, source))) acked.push({ id, source });
    }
  });
  await sleep(o.seconds * 1000);
  first.child.kill('SIGKILL');
  stop = true;
  await first.exited;
  await Promise.allSettled(writers);

  const t0 = performance.now();
  const second = await startServer({ ...base, extraArgs });
  const restartS = (performance.now() - t0) / 1000;
  try {
    let lost = 0;
    let records = 0;
    for (const a of acked) {
      const r = await fetch(`${second.http}/v1/requests/${a.id}`);
      if (r.status !== 200) {
        lost++;
        continue;
      }
      const rec = (await r.json()) as { feedback?: { source: string }[] };
      if (!rec.feedback?.some((f) => f.source === a.source)) lost++;
    }
    for (const id of answered) if ((await fetch(`${second.http}/v1/requests/${id}`)).status === 200) records++;
    const fresh = await postCompletion(second.http, { prompt: PROMPTS[0], max_tokens: 4 }, 10_000);
    const freshId = fresh.json?.id as string | undefined;
    const writes = fresh.status === 200 && freshId !== undefined && (await feedback(second.http, freshId, 'after-restart'));
    return {
      part: P,
      details: { command: `${first.command} (killed with SIGKILL after ${o.seconds} s of ${o.writers} writers), then the same on the same store`, acked: acked.length, answered: answered.length, lost, records },
      rows: [
        row(P, 'writes before the kill', `${answered.length} answered requests, ${acked.length} acknowledged feedback (SQLite store, WAL, synchronous=FULL)`),
        zeroRow(P, 'acknowledged feedback lost after kill -9', lost),
        row(P, 'restart on the store left mid-write: listens and takes new writes', writes ? `yes, in ${restartS.toFixed(1)} s` : 'no', 'yes', writes),
        row(P, "answered requests whose record survived (queued, best effort)", pct(records, answered.length)),
      ],
    };
  } finally {
    await second.stop();
  }
}
