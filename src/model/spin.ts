/**
 * Whether onnxruntime's intra-op threads spin while waiting for work. Spinning saves the wake-up of
 * every parallel op (hundreds per step) when the cores are free, and costs dearly when they are not:
 * a spinning thread takes a core that another process, or this server's own event loop, needed.
 * `auto` spins only when the process can have its cores to itself: at least one logical CPU beyond
 * the intra-op threads (for the event loop and the model worker's JS) and an idle machine at load.
 */
import { availableParallelism, loadavg } from 'node:os';

export type SpinSetting = 'on' | 'off' | 'auto';

/** Parses a setting from config or the SKIPSERVE_ORT_SPIN variable (1/true/on, 0/false/off, auto). */
export function parseSpin(raw: string | boolean | undefined): SpinSetting | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (raw === true || raw === '1' || raw === 'true' || raw === 'on') return 'on';
  if (raw === false || raw === '0' || raw === 'false' || raw === 'off') return 'off';
  if (raw === 'auto') return 'auto';
  throw new Error(`spin must be one of on, off, auto (got ${JSON.stringify(raw)})`);
}

/** Machine facts `auto` decides from (injectable for tests). */
export interface SpinProbe {
  cpus: number;
  load1: number;
}

/** Decides spinning for `threads` intra-op threads; the reason says why, for the startup log. */
export function resolveSpin(setting: SpinSetting, threads: number, probe: SpinProbe = { cpus: availableParallelism(), load1: loadavg()[0] }): { spin: boolean; reason: string } {
  if (setting !== 'auto') return { spin: setting === 'on', reason: `spin ${setting}` };
  if (probe.cpus < threads + 1) return { spin: false, reason: `auto: ${probe.cpus} CPUs leave none beside ${threads} intra-op threads` };
  if (probe.load1 >= 0.5 * (probe.cpus - threads)) return { spin: false, reason: `auto: load average ${probe.load1.toFixed(1)} says the CPUs are shared` };
  return { spin: true, reason: `auto: ${probe.cpus} CPUs, load average ${probe.load1.toFixed(1)}` };
}
