/**
 * `skipserve generate --model DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-p P]
 * [--top-k K] [--min-p P] [--presence-penalty X] [--frequency-penalty X] [--repetition-penalty X] [--min-tokens N] [--guided-regex RE | --guided-json SCHEMA] [--seed S] [--beam W [--length-penalty X]] [--plan JSON] [--threads N] [--json]`: one completion on the local model,
 * through the same engine as the server (a request with n = 1, policy `explicit` when --plan is given;
 * with --beam, the best of a beam search of width W).
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openLocalEngine } from '../engine/local-engine.ts';
import { planToWire, type SkipPlanWire } from '../plans/plan.ts';
import { MAX_REPETITION_PENALTY } from '../sampling/sampler.ts';

const USAGE =
  'usage: skipserve generate --model DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--min-p P] [--presence-penalty X] [--frequency-penalty X] [--repetition-penalty X] [--min-tokens N] [--guided-regex RE | --guided-json SCHEMA] [--seed S] [--beam W [--length-penalty X]] [--plan JSON] [--threads N] [--json]';

function num(name: string, raw: string | undefined, def: number, check: (v: number) => boolean, what: string): number {
  if (raw === undefined) return def;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || !check(v)) throw new Error(`--${name} must be ${what}, got '${raw}'`);
  return v;
}

/** Parses flags, generates, prints the text (or one JSON object with --json). */
export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      prompt: { type: 'string' },
      'max-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      'top-k': { type: 'string' },
      'min-p': { type: 'string' },
      'presence-penalty': { type: 'string' },
      'frequency-penalty': { type: 'string' },
      'repetition-penalty': { type: 'string' },
      'min-tokens': { type: 'string' },
      'guided-regex': { type: 'string' },
      'guided-json': { type: 'string' },
      seed: { type: 'string' },
      beam: { type: 'string' },
      'length-penalty': { type: 'string' },
      plan: { type: 'string' },
      threads: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const model = values.model ?? (existsSync('models/default/config.json') ? 'models/default' : undefined);
  if (!model) throw new Error(`--model is required (models/default does not exist)\n${USAGE}`);
  if (values.prompt === undefined) throw new Error(`--prompt is required\n${USAGE}`);
  const isInt = (v: number) => Number.isInteger(v);
  const maxTokens = num('max-tokens', values['max-tokens'], 64, (v) => isInt(v) && v >= 1, 'an integer >= 1');
  const temperature = num('temperature', values.temperature, 0, (v) => v >= 0, 'a number >= 0');
  const topP = num('top-p', values['top-p'], 1, (v) => v > 0 && v <= 1, 'in (0, 1]');
  const topK = num('top-k', values['top-k'], 0, (v) => isInt(v) && v >= 0, 'an integer >= 0');
  const minP = num('min-p', values['min-p'], 0, (v) => v >= 0 && v <= 1, 'in [0, 1] (0: off)');
  const penalty = (v: number) => v >= -2 && v <= 2;
  const presencePenalty = num('presence-penalty', values['presence-penalty'], 0, penalty, 'in [-2, 2]');
  const frequencyPenalty = num('frequency-penalty', values['frequency-penalty'], 0, penalty, 'in [-2, 2]');
  const repetitionPenalty = num('repetition-penalty', values['repetition-penalty'], 1, (v) => v > 0 && v <= MAX_REPETITION_PENALTY, `in (0, ${MAX_REPETITION_PENALTY}] (1: off)`);
  const minTokens = num('min-tokens', values['min-tokens'], 0, (v) => isInt(v) && v >= 0 && v <= maxTokens, 'an integer from 0 to --max-tokens');
  const seed = num('seed', values.seed, 0, isInt, 'an integer');
  const beam = values.beam === undefined ? 0 : num('beam', values.beam, 0, (v) => isInt(v) && v >= 1 && v <= 64, 'an integer from 1 to 64 (the beam width)');
  if (values['length-penalty'] !== undefined && !beam) throw new Error('--length-penalty needs --beam');
  const lengthPenalty = num('length-penalty', values['length-penalty'], 1, (v) => Math.abs(v) <= 100, 'a number from -100 to 100');
  const threads = num('threads', values.threads, 2, (v) => isInt(v) && v >= 1, 'an integer >= 1');
  let planJson: unknown = {};
  if (values.plan !== undefined) {
    try {
      planJson = JSON.parse(values.plan);
    } catch {
      throw new Error(`--plan is not valid JSON: ${values.plan}`);
    }
  }
  const local = await openLocalEngine({ modelDir: model, threads, maxBatch: Math.max(1, beam), defaultMaxTokens: maxTokens, measureSpeedup: false });
  try {
    const r = await local.generate({
      prompt: { kind: 'text', text: values.prompt },
      maxTokens,
      temperature,
      topP,
      topK,
      minP,
      presencePenalty,
      frequencyPenalty,
      repetitionPenalty,
      minTokens,
      guidedRegex: values['guided-regex'],
      guidedJson: values['guided-json'],
      seed,
      ...(beam ? { bestOf: beam, useBeamSearch: true, lengthPenalty } : {}),
      skip: values.plan !== undefined ? { policy: 'explicit', plan: planJson as SkipPlanWire } : { policy: 'none' },
    });
    const c = r.candidates[0]!;
    const firstMs = r.timings.firstTokenMs ?? r.timings.totalMs;
    const decodeMs = r.timings.totalMs - firstMs;
    const tps = c.tokenIds.length > 1 && decodeMs > 0 ? (c.tokenIds.length - 1) / (decodeMs / 1000) : 0;
    if (values.json) {
      const obj = {
        text: c.text,
        token_ids: c.tokenIds,
        prompt_tokens: r.promptTokens,
        completion_tokens: c.tokenIds.length,
        finish_reason: c.finishReason,
        plan: planToWire(c.plan),
        prefill_ms: Number(firstMs.toFixed(2)),
        decode_tokens_per_second: Number(tps.toFixed(2)),
      };
      process.stdout.write(JSON.stringify(obj) + '\n');
    } else process.stdout.write(c.text + '\n');
  } finally {
    await local.close();
  }
}
