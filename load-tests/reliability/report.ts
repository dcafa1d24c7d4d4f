/**
 * The harness's output: one table of figures (part, figure, value, goal, verdict), printed as
 * markdown and written as JSON with the command, date, load average and the server's command line.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadavg } from 'node:os';

/** One measured figure. `pass` is null for figures without a goal (context only). */
export interface Row {
  part: string;
  figure: string;
  value: string;
  goal: string;
  pass: boolean | null;
  /** Safety figures (crashes, 5xx, hangs): the ones CI insists on. */
  safety?: boolean;
}

export interface PartResult {
  part: string;
  rows: Row[];
  /** Raw figures and samples of failures, kept in the JSON. */
  details: Record<string, unknown>;
}

export interface Report {
  command: string;
  mode: 'quick' | 'full';
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  loadAverage: { atStart: number[]; atEnd: number[] };
  node: string;
  cpus: number;
  servers: string[];
  rows: Row[];
  failed: Row[];
  parts: Record<string, Record<string, unknown>>;
}

/** Percentile (nearest rank) of an unsorted list; NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Formats a share as a percentage with one decimal ("-" when the denominator is 0). */
export function pct(num: number, den: number): string {
  return den ? `${((100 * num) / den).toFixed(1)}% (${num}/${den})` : '- (0/0)';
}

/** A figure that must be zero. */
export function zeroRow(part: string, figure: string, value: number, safety = true): Row {
  return { part, figure, value: String(value), goal: '0', pass: value === 0, safety };
}

/** Builds a row. */
export function row(part: string, figure: string, value: string | number, goal = '', pass: boolean | null = null): Row {
  return { part, figure, value: String(value), goal, pass };
}

/** The markdown table of every row. */
export function table(rows: Row[]): string {
  const lines = ['| part | figure | value | goal | verdict |', '|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.part} | ${r.figure} | ${r.value.replace(/\|/g, '\\|')} | ${r.goal} | ${r.pass === null ? '' : r.pass ? 'pass' : '**FAIL**'} |`);
  return lines.join('\n');
}

/** Current 1/5/15-minute load averages, rounded. */
export function loadAverage(): number[] {
  return loadavg().map((x) => Math.round(x * 100) / 100);
}

/** Writes the report as JSON (creating the folder). */
export function writeReport(path: string, report: Report): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(report, null, 2) + '\n');
}
