/**
 * OpenAI's reasoning effort (chat `reasoning_effort`, Responses `reasoning.effort`, gRPC
 * `reasoning_effort`) as vLLM serves it: the chat template's `reasoning_effort` variable, which a
 * reasoning model's template reads and others ignore.
 */
import { InvalidRequestError } from '../errors.ts';

export const REASONING_EFFORTS = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh'] as const;

/** Template variables with `reasoning_effort` added (`field` names it in the error when `kwargs` sets another value). */
export function withReasoningEffort(kwargs: Record<string, unknown> | null | undefined, effort: string | null | undefined, field: string): Record<string, unknown> | undefined {
  if (effort == null) return kwargs ?? undefined;
  if (!(REASONING_EFFORTS as readonly string[]).includes(effort)) throw new InvalidRequestError(`${field} must be one of ${REASONING_EFFORTS.join(', ')}`, field);
  if (kwargs && 'reasoning_effort' in kwargs && kwargs.reasoning_effort !== effort) throw new InvalidRequestError(`${field} is '${effort}' but chat_template_kwargs.reasoning_effort says otherwise: send one`, field);
  return { ...kwargs, reasoning_effort: effort };
}
