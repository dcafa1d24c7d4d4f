/**
 * `skipserve data generate --split train|dev|test --seed S --count N [--tier standard|hard|mixed] [--alt-work P] [--delta-work P] [--out FILE]`:
 * writes generated arithmetic word problems as JSONL (stdout unless --out). Deterministic.
 * `--alt-work P` works each simple equation of a solution through place value with probability P
 * (alt-work.ts); `--delta-work P` works each run of amount steps through its net change with
 * probability P (delta-work.ts): training data with two solution paths; the problems themselves do
 * not change.
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { generateSplit, SPLITS, TIERS, type Split, type TierChoice } from './split.ts';
import { altWork } from './alt-work.ts';
import { deltaWork } from './delta-work.ts';

function usage(): string {
  return 'usage: skipserve data generate --split train|dev|test --seed S --count N [--tier standard|hard|mixed] [--alt-work P] [--delta-work P] [--out FILE]';
}

function intOption(name: string, raw: string | undefined, min: number): number {
  if (raw === undefined) throw new Error(`--${name} is required\n${usage()}`);
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new Error(`--${name} must be an integer >= ${min}, got '${raw}'`);
  return Number(raw);
}

/** Parses the command line and writes the JSONL. */
export async function run(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'generate') throw new Error(`unknown subcommand '${sub ?? ''}'\n${usage()}`);
  const { values } = parseArgs({
    args: rest,
    options: {
      split: { type: 'string' },
      seed: { type: 'string' },
      count: { type: 'string' },
      out: { type: 'string' },
      tier: { type: 'string', default: 'standard' },
      'alt-work': { type: 'string', default: '0' },
      'delta-work': { type: 'string', default: '0' },
    },
    strict: true,
  });
  const split = values.split as Split | undefined;
  if (!split || !SPLITS.includes(split)) throw new Error(`--split must be one of ${SPLITS.join(', ')}, got '${values.split ?? ''}'`);
  const tier = values.tier as TierChoice;
  if (!TIERS.includes(tier)) throw new Error(`--tier must be one of ${TIERS.join(', ')}, got '${values.tier}'`);
  const seed = intOption('seed', values.seed, 0);
  const count = intOption('count', values.count, 1);
  const alt = Number(values['alt-work']);
  if (!(alt >= 0 && alt <= 1)) throw new Error(`--alt-work must be a probability in [0, 1], got '${values['alt-work']}'`);
  const delta = Number(values['delta-work']);
  if (!(delta >= 0 && delta <= 1)) throw new Error(`--delta-work must be a probability in [0, 1], got '${values['delta-work']}'`);
  if (values.out) mkdirSync(dirname(values.out), { recursive: true });
  const out: Writable = values.out ? createWriteStream(values.out) : process.stdout;
  let buf = '';
  for (const p of generateSplit({ split, seed, count, tier })) {
    const solution = altWork(p.id, deltaWork(p, delta), alt);
    buf += JSON.stringify(solution === p.solution ? p : { ...p, solution }) + '\n';
    if (buf.length > 1 << 16) {
      if (!out.write(buf)) await new Promise((r) => out.once('drain', r));
      buf = '';
    }
  }
  await new Promise<void>((resolve, reject) => {
    out.write(buf, (err) => (err ? reject(err) : resolve()));
  });
  if (values.out) await new Promise<void>((resolve) => out.end(resolve));
}
