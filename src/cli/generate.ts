/**
 * `skipserve generate --model DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-p P]
 * [--top-k K] [--seed S] [--plan JSON] [--threads N] [--json]`: one completion on the local model.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { generateOnce } from '../model/generate-once.ts';
import { loadRunner } from '../model/runner.ts';
import { parsePlan, planToWire } from '../plans/plan.ts';
import { TextTokenizer } from '../text/tokenizer.ts';

const USAGE =
  'usage: skipserve generate --model DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--seed S] [--plan JSON] [--threads N] [--json]';

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
      seed: { type: 'string' },
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
  const seed = num('seed', values.seed, 0, isInt, 'an integer');
  const threads = num('threads', values.threads, 2, (v) => isInt(v) && v >= 1, 'an integer >= 1');
  let planJson: unknown = {};
  if (values.plan !== undefined) {
    try {
      planJson = JSON.parse(values.plan);
    } catch {
      throw new Error(`--plan is not valid JSON: ${values.plan}`);
    }
  }
  const tokenizer = TextTokenizer.load(model);
  const runner = await loadRunner({ modelDir: model, threads, maxBatch: 1 });
  try {
    const plan = parsePlan(planJson, runner.info);
    const prompt = tokenizer.encode(values.prompt);
    const r = await generateOnce(runner, prompt, { maxTokens, sampling: { temperature, topP, topK }, seed, plan });
    const text = tokenizer.decode(r.tokenIds);
    const tps = r.decodeSteps > 0 ? r.decodeSteps / (r.decodeMs / 1000) : 0;
    if (values.json) {
      const obj = {
        text,
        token_ids: r.tokenIds,
        prompt_tokens: prompt.length,
        completion_tokens: r.tokenIds.length,
        finish_reason: r.finishReason,
        plan: planToWire(plan),
        prefill_ms: Number(r.prefillMs.toFixed(2)),
        decode_tokens_per_second: Number(tps.toFixed(2)),
      };
      process.stdout.write(JSON.stringify(obj) + '\n');
    } else process.stdout.write(text + '\n');
  } finally {
    await runner.close();
  }
}
