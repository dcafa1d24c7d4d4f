/**
 * Small typed option helpers for the router and profile CLIs: every bad value fails with a
 * message naming the flag and what it accepts.
 */
import { existsSync } from 'node:fs';

/** A numeric flag with a default and a check; `what` describes the allowed values. */
export function numFlag(name: string, raw: string | undefined, dflt: number, ok: (v: number) => boolean, what: string): number {
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || !ok(v)) throw new Error(`--${name} must be ${what}, got '${raw}'`);
  return v;
}

export const isInt = (v: number): boolean => Number.isInteger(v);

/** A comma-separated list of positive integers (e.g. --ns 1,4,8). */
export function intList(name: string, raw: string | undefined, dflt: number[]): number[] {
  if (raw === undefined) return dflt;
  const xs = raw.split(',').map((s) => Number(s.trim()));
  if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x < 1)) throw new Error(`--${name} must be a comma-separated list of positive integers, got '${raw}'`);
  return xs;
}

/** A comma-separated list of numbers, each checked as `numFlag` checks one (e.g. --target 1.25,1.5). */
export function numList(name: string, raw: string | undefined, dflt: number[], ok: (v: number) => boolean, what: string): number[] {
  if (raw === undefined) return dflt;
  return raw.split(',').map((s) => numFlag(name, s.trim(), Number.NaN, ok, what));
}

/** The model directory: --model, else models/default when it exists. */
export function modelDirFlag(raw: string | undefined, usage: string): string {
  const dir = raw ?? (existsSync('models/default/config.json') ? 'models/default' : undefined);
  if (!dir) throw new Error(`--model is required (models/default does not exist)\n${usage}`);
  if (!existsSync(`${dir}/config.json`)) throw new Error(`--model ${dir}: no config.json there`);
  return dir;
}
