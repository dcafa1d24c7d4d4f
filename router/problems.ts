/**
 * Calibration and evaluation prompts: the default model's generated problems (by split), or any
 * JSONL file of prompts with optional reference solutions/answers and a `kind` (the domain).
 */
import { readFileSync } from 'node:fs';
import { generateSplit, TIERS, type Split, type TierChoice } from '../models/train/generator/split.ts';
import { normalizeAnswer } from '../src/engine/answers.ts';
import type { LocalEngine } from '../src/engine/local-engine.ts';
import { renderPrompt } from '../src/engine/render-prompt.ts';
import type { PromptSpec } from '../src/engine/types.ts';
import type { TextTokenizer } from '../src/engine/types.ts';

/** One prompt, as the router uses it. */
export interface RouterPrompt {
  id: string;
  /** The question (rendered as `Q: … \nA:` for the default model's format). */
  question?: string;
  /** Raw prompt text, used as is when there is no question. */
  prompt?: string;
  /** Reference completion text (teacher-forced for importance), e.g. the worked solution. */
  reference?: string;
  /** Normalised reference answer (for correctness). */
  answer?: string;
  /** Domain label (e.g. the generator's problem kind). */
  kind?: string;
  steps?: number;
}

/** The --tier flag of the router tools (default standard); errors name the allowed values. */
export function tierFlag(raw: string | undefined): TierChoice {
  const t = (raw ?? 'standard') as TierChoice;
  if (!TIERS.includes(t)) throw new Error(`--tier must be one of ${TIERS.join(', ')}, got '${raw}'`);
  return t;
}

/** Generated problems of the default model's generator (same seed and tier, same problems). */
export function generatedProblems(split: Split, seed: number, count: number, tier: TierChoice = 'standard'): RouterPrompt[] {
  const out: RouterPrompt[] = [];
  for (const p of generateSplit({ split, seed, count, tier })) {
    out.push({ id: p.id, question: p.question, reference: p.solution, answer: normalizeAnswer(String(p.answer)), kind: p.kind, steps: p.steps });
  }
  return out;
}

/**
 * Reads a JSONL file: each line has `question` or `prompt`, and optionally `solution` (or
 * `reference`), `answer`, `kind`, `id`. Errors name the line and field.
 */
export function readPromptsFile(path: string, limit = Infinity): RouterPrompt[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: RouterPrompt[] = [];
  for (let i = 0; i < lines.length && out.length < limit; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`${path}:${i + 1}: not valid JSON: ${(err as Error).message}`);
    }
    const str = (k: string): string | undefined => {
      const v = r[k];
      if (v === undefined || v === null) return undefined;
      if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`${path}:${i + 1}: field '${k}' must be a string`);
      return String(v);
    };
    const question = str('question');
    const prompt = str('prompt');
    if (!question && !prompt) throw new Error(`${path}:${i + 1}: needs a 'question' or a 'prompt' field`);
    const answer = str('answer');
    out.push({
      id: str('id') ?? `line-${i + 1}`,
      question,
      prompt,
      reference: str('solution') ?? str('reference'),
      answer: answer === undefined ? undefined : normalizeAnswer(answer),
      kind: str('kind'),
      steps: typeof r.steps === 'number' ? r.steps : undefined,
    });
  }
  if (out.length === 0) throw new Error(`${path}: no prompts`);
  return out;
}

/**
 * The prompt as a client would send it: the question as a chat message when the model has a chat
 * template (the default model renders it as `Q: question\nA:`), else the raw prompt text.
 */
export function promptSpec(local: Pick<LocalEngine, 'chatTemplate'>, p: RouterPrompt): PromptSpec {
  if (p.question !== undefined && local.chatTemplate) return { kind: 'chat', messages: [{ role: 'user', content: p.question }] };
  return { kind: 'text', text: p.question !== undefined ? `Q: ${p.question.trim()}\nA:` : p.prompt! };
}

/** Token ids of the prompt, exactly as the server tokenizes the request. */
export function promptIds(local: Pick<LocalEngine, 'chatTemplate' | 'info' | 'tokenizer'>, p: RouterPrompt): number[] {
  return renderPrompt(local, promptSpec(local, p)).tokens;
}

/** Token ids of the reference completion (leading space, then EOS), or null without one. */
export function referenceIds(tok: TextTokenizer, p: RouterPrompt, eos?: number): number[] | null {
  if (!p.reference) return null;
  const ids = tok.encode(' ' + p.reference.trim(), false);
  return eos !== undefined ? [...ids, eos] : ids;
}
