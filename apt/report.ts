/**
 * `skipserve apt report`: one markdown table row per round directory, from what the round wrote
 * (weakness.json, acquired.jsonl, gate.json, selector-gate.json): the weakness-set size, the
 * held-out weakness slice and both tiers (greedy, serving -> candidate model, paired difference),
 * the hard tier's best-of-N majority vote for vanilla and `learned` (serving -> candidate selector),
 * and what was promoted. A step that has not run shows as '-'.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { formatDiff, formatProportion, type Proportion } from '../src/util/intervals.ts';
import type { GateReport, SelectorGateReport, SliceReport } from './gate.ts';

const readJson = <T>(path: string): T | null => (existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : null);
const pct = (x: Proportion): string => `${(100 * x.p).toFixed(1)}`;

/** "48.1 -> 51.0, +2.9 [+1.0, +4.8]" for a slice of a gate. */
function slice(g: GateReport | null, name: string): string {
  const s: SliceReport | undefined = g?.slices.find((x) => x.name === name);
  return s ? `${pct(s.baseline)} -> ${pct(s.candidate)}, ${formatDiff(s.diff).replace(' points', '')}` : '-';
}

/** The table's header and one row per round directory. */
export function reportTable(rounds: readonly string[]): string {
  const lines = [
    '| round | weakness set (cases / acquired) | weakness slice, greedy | standard tier, greedy | hard tier, greedy | hard maj@8 vanilla | hard maj@8 learned (serving -> candidate selector) | promoted |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const dir of rounds) {
    const w = readJson<{ cases: unknown[] }>(join(dir, 'weakness.json'));
    const acquired = existsSync(join(dir, 'acquired.jsonl')) ? readFileSync(join(dir, 'acquired.jsonl'), 'utf8').split('\n').filter((l) => l.trim()).length : 0;
    const g = readJson<GateReport>(join(dir, 'gate.json'));
    const sg = readJson<SelectorGateReport>(join(dir, 'selector-gate.json'));
    const promoted = [g ? `model ${g.promote ? 'yes' : 'no'}` : null, sg ? `selector ${sg.promote ? 'yes' : 'no'}` : null].filter(Boolean).join(', ') || '-';
    lines.push(
      `| ${basename(dir)} | ${w ? `${w.cases.length} / ${acquired}` : '-'} | ${slice(g, 'weakness (held out)')} | ${slice(g, 'standard tier')} | ${slice(g, 'hard tier')} | ${sg ? formatProportion(sg.vanillaHard) : '-'} | ${slice(sg, 'hard tier')} | ${promoted} |`,
    );
  }
  return lines.join('\n') + '\n';
}
