/**
 * Scratch directories for the generated graphs' external weights (graph-sessions.ts): a model's
 * weights file lives as long as the model (its core graphs are built over it later), 0.5 GB for a
 * 135M model. A directory is `skipserve-graph-<host>-<pid>.<start>-XXXXXX` under the temp dir
 * (`<start>`: the process's start time in clock ticks after boot, /proc/PID/stat; 0 where there is
 * no /proc) and is removed when its model closes, when its process exits (an exit hook), by the
 * thread that started a model worker once that worker is gone (runner.ts: a worker that crashed runs
 * no hook of its own), and, after a crash that ran no hook at all (SIGKILL, the OOM killer), by the
 * next scratch directory made on the same host, which removes those whose process no longer runs.
 * The start time tells a restarted container's process from its predecessor: both are often pid 1,
 * on a temp dir (a Kubernetes emptyDir) that outlives the container.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

const PREFIX = 'skipserve-graph-';
const NAME = /^skipserve-graph-(.+)-(\d+)\.(\d+)-[A-Za-z0-9]{6}$/;
/** Directories this thread made and has not removed (the exit hook's list). */
const live = new Set<string>();
let hooked = false;

/** This host's name as it goes into a directory name. */
function host(): string {
  return hostname().replace(/[^A-Za-z0-9.]/g, '_') || 'host';
}

/** A process's start time in clock ticks after boot (field 22 of /proc/PID/stat), null without one. */
function startTicks(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether the process `pid` that started at `start` runs (without /proc: any process with that id; one of another user counts). */
function running(pid: number, start: string): boolean {
  if (start !== '0') return startTicks(pid) === start;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the scratch directories under `root` left by processes of this host that no longer run;
 * returns their paths. Directories of other hosts (a temp dir shared across containers) are kept.
 */
export function sweepStaleScratch(root = tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(root).filter((n) => n.startsWith(PREFIX));
  } catch {
    return removed;
  }
  const me = host();
  for (const name of names) {
    const m = NAME.exec(name);
    if (!m || m[1] !== me || running(Number(m[2]), m[3]!)) continue;
    rmSync(join(root, name), { recursive: true, force: true });
    removed.push(join(root, name));
  }
  return removed;
}

/** Makes a scratch directory (after sweeping stale ones), removed at this process's exit if not before. */
export function makeGraphScratch(root = tmpdir()): string {
  sweepStaleScratch(root);
  const dir = mkdtempSync(join(root, `${PREFIX}${host()}-${process.pid}.${startTicks(process.pid) ?? 0}-`));
  live.add(dir);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const d of live) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

/** Removes a scratch directory (idempotent). */
export function removeGraphScratch(dir: string): void {
  live.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}
