/** Served records for the store tests: realistic shapes, deterministic per id. */
import type { CandidateRecord, ServedRecord } from '../../src/store/types.ts';

/** A best-of-N record whose candidates give `answers` (null = no answer extracted); the first is selected. */
export function makeRecord(id: string, over: Partial<ServedRecord> & { answers?: (string | null)[] } = {}): ServedRecord {
  const { answers = ['42', '42', '41', null], ...rest } = over;
  const candidates: CandidateRecord[] = answers.map((answer, index) => ({
    index,
    plan: index === 0 ? {} : { skip_mlp: [index], mask_heads: { '1': [0, index] } },
    text: `Step 1: think about ${id} #${index}. The answer is ${answer ?? '?'}.`,
    answer,
    meanLogprob: -0.25 * (index + 1),
    finishReason: index === answers.length - 1 ? 'length' : 'stop',
    completionTokens: 20 + index,
  }));
  return {
    id,
    createdAt: 1_700_000_000_000,
    promptText: `Q: what is ${id}? A:`,
    promptTokens: 12,
    policy: 'random-heads',
    arm: 'b',
    modelVersion: 'sha256:model',
    selectorVersion: 'sha256:selector',
    candidates,
    selectedIndex: 0,
    diversity: { uniqueAnswers: 0.5, answerEntropy: 0.918, distinct2: 0.7, meanPairwiseDistance: 0.3, majorityShare: 0.5, planDistance: 0.2 },
    speedup: 1.25,
    timings: { queueMs: 0.5, ttftMs: 12.5, totalMs: 80.25 },
    referenceAnswer: '42',
    referenceMatch: true,
    metadata: { tier: 'hard', kind: 'two-step', steps: '2' },
    response: { input: [{ type: 'message', id: `msg_in_${id}`, role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], object: { id, object: 'response', output: [] } },
    ...rest,
  };
}

/** A minimal record: one candidate, no optional field. */
export function minimalRecord(id: string, createdAt = 1_700_000_000_000): ServedRecord {
  return {
    id,
    createdAt,
    promptText: 'hi',
    promptTokens: 1,
    policy: 'none',
    modelVersion: 'm',
    candidates: [{ index: 0, plan: {}, text: 'hello', answer: null, meanLogprob: null, finishReason: 'stop', completionTokens: 1 }],
    timings: { queueMs: 0, ttftMs: null, totalMs: 1 },
  };
}
