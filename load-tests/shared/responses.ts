/**
 * Reads the facts a load run records from a response: tokens, the reported speedup and diversity,
 * the A/B arm, and whether the selected answer is right. Accepts the HTTP (snake_case) body, a
 * gRPC response as k6 decodes it (lowerCamelCase) and as grpc-js decodes it (snake_case).
 * Also tracks an SSE stream's time to first token and inter-token gaps. No Node or k6 APIs here.
 */

/** What one finished request tells about the server. */
export interface ResultFacts {
  promptTokens: number;
  completionTokens: number;
  policy?: string;
  arm?: string;
  speedup?: number;
  skippedComputeRatio?: number;
  uniqueAnswers?: number;
  answerEntropy?: number;
  distinct2?: number;
  /** The selected candidate's answer. */
  answer?: string;
  /** Selected answer equals the prompt's expected answer (undefined when nothing was selected). */
  correct?: boolean;
}

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
}

/** Field `snake` or its lowerCamelCase twin. */
function field(o: Obj | undefined, snake: string): unknown {
  if (!o) return undefined;
  if (snake in o) return o[snake];
  return o[snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())];
}

function numField(o: Obj | undefined, snake: string): number | undefined {
  const v = field(o, snake);
  const n = typeof v === 'string' && v !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

function strField(o: Obj | undefined, snake: string): string | undefined {
  const v = field(o, snake);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Facts from a chat-completions body, a gRPC GenerateResponse, or a stream's final message. */
export function resultFacts(body: unknown, expectedAnswer?: string): ResultFacts {
  const b = obj(body);
  const usage = obj(field(b, 'usage'));
  const skip = obj(field(b, 'skip'));
  const diversity = obj(field(skip, 'diversity'));
  const list = field(b, 'choices') ?? field(b, 'candidates');
  const choices = Array.isArray(list) ? list.map(obj) : [];
  const facts: ResultFacts = {
    promptTokens: numField(usage, 'prompt_tokens') ?? 0,
    completionTokens: numField(usage, 'completion_tokens') ?? 0,
    policy: strField(skip, 'policy'),
    arm: strField(skip, 'arm'),
    speedup: numField(skip, 'speedup'),
    skippedComputeRatio: numField(skip, 'skipped_compute_ratio'),
    uniqueAnswers: numField(diversity, 'unique_answers'),
    answerEntropy: numField(diversity, 'answer_entropy'),
    distinct2: numField(diversity, 'distinct_2'),
  };
  let selected = numField(skip, 'selected_index');
  if (selected === undefined) {
    const marked = choices.findIndex((c) => field(c, 'selected') === true);
    if (marked >= 0) selected = marked;
  }
  if (selected !== undefined && selected >= 0) {
    const chosen = choices.find((c, i) => (numField(c, 'index') ?? i) === selected);
    const answer = field(chosen, 'answer');
    if (typeof answer === 'string' || typeof answer === 'number') facts.answer = String(answer);
    if (expectedAnswer !== undefined) facts.correct = facts.answer === expectedAnswer;
  }
  return facts;
}

/**
 * Follows one streamed response (SSE `data:` payloads of chat.completion.chunk objects, or gRPC
 * GenerateStream messages): time to first token, gaps between a candidate's consecutive tokens,
 * and the facts of the final chunk. Times are milliseconds from any clock the caller chooses.
 */
export class StreamTracker {
  /** Milliseconds from start to the first non-empty delta; undefined until one arrives. */
  ttftMs: number | undefined;
  /** Gaps between consecutive deltas of the same candidate. */
  readonly itlMs: number[] = [];
  /** Non-empty deltas received (all candidates). */
  deltas = 0;
  done = false;
  private readonly lastAt = new Map<number, number>();
  private final: Obj = {};
  private readonly choices = new Map<number, Obj>();

  constructor(private readonly startMs: number) {}

  /** One SSE `data:` payload; returns false for payloads that are not JSON chunks (e.g. [DONE]). */
  onSseData(data: string, nowMs: number): boolean {
    if (data.trim() === '[DONE]') {
      this.done = true;
      return false;
    }
    let chunk: unknown;
    try {
      chunk = JSON.parse(data);
    } catch {
      return false;
    }
    const c = obj(chunk);
    if (!c) return false;
    const list = field(c, 'choices');
    for (const raw of Array.isArray(list) ? list : []) {
      const choice = obj(raw);
      const index = numField(choice, 'index') ?? 0;
      const text = strField(obj(field(choice, 'delta')), 'content');
      if (text) this.onDelta(index, nowMs);
      const kept = this.choices.get(index) ?? { index };
      for (const key of ['answer', 'finish_reason']) if (field(choice, key) != null) kept[key] = field(choice, key);
      this.choices.set(index, kept);
    }
    for (const key of ['usage', 'skip']) if (field(c, key) != null) this.final[key] = field(c, key);
    return true;
  }

  /** One gRPC GenerateStreamResponse message (either a `delta` or the `final` response). */
  onGrpcMessage(message: unknown, nowMs: number): void {
    const m = obj(message);
    const delta = obj(field(m, 'delta'));
    const fin = obj(field(m, 'final'));
    if (delta && strField(delta, 'text')) this.onDelta(numField(delta, 'index') ?? 0, nowMs);
    if (fin) {
      this.final = fin;
      this.done = true;
    }
  }

  private onDelta(index: number, nowMs: number): void {
    this.deltas += 1;
    if (this.ttftMs === undefined) this.ttftMs = nowMs - this.startMs;
    const last = this.lastAt.get(index);
    if (last !== undefined) this.itlMs.push(nowMs - last);
    this.lastAt.set(index, nowMs);
  }

  /** Facts of the finished stream; completion tokens fall back to the delta count without usage. */
  facts(expectedAnswer?: string): ResultFacts {
    const body: Obj = { ...this.final };
    // The HTTP stream's last chunk carries the per-choice answers inside `skip.choices`.
    const summaryChoices = field(obj(field(body, 'skip')), 'choices');
    if (!field(body, 'candidates')) body.choices = Array.isArray(summaryChoices) ? summaryChoices : [...this.choices.values()];
    const f = resultFacts(body, expectedAnswer);
    if (f.completionTokens === 0) f.completionTokens = this.deltas;
    return f;
  }
}
