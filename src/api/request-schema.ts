/**
 * The request schemas, validated once at the edge with zod. HTTP bodies are checked directly; gRPC
 * messages are first mapped to the same shape, so both transports share one set of rules and the
 * same error messages. Errors name the field in wire form (e.g. `messages[0].content`).
 */
import { z } from 'zod';
import { InvalidRequestError } from '../errors.ts';

const SkipSchema = z
  .object({
    policy: z.string().min(1).optional(),
    plan: z.unknown().optional(),
    plans: z.array(z.unknown()).min(1).optional(),
    k: z.number().int().min(0).optional(),
    target_speedup: z.number().min(1).max(100).optional(),
    domain: z.string().min(1).optional(),
    select: z.enum(['vote', 'logprob', 'none']).default('vote'),
    answer_pattern: z.string().min(1).max(500).optional(),
  })
  .strict();

/** Fields shared by chat and completions (and gRPC). */
const common = {
  model: z.string().optional(),
  n: z.number().int().min(1).max(256).default(1),
  max_tokens: z.number().int().min(1).nullish(),
  max_completion_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: z.number().int().min(-1).nullish(),
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(16)]).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).strict().nullish(),
  ignore_eos: z.boolean().optional(),
  user: z.string().optional(),
  presence_penalty: z.literal(0, { message: 'presence_penalty is not supported (only 0)' }).nullish(),
  frequency_penalty: z.literal(0, { message: 'frequency_penalty is not supported (only 0)' }).nullish(),
  skip: SkipSchema.optional(),
};

/** The fields chat, completions and gRPC share (gRPC messages are mapped to this shape). */
export const CommonSchema = z.object(common).strict();

const ContentPart = z.object({ type: z.literal('text'), text: z.string() }).strict();

export const ChatRequestSchema = z
  .object({
    ...common,
    messages: z
      .array(
        z
          .object({
            role: z.enum(['system', 'user', 'assistant', 'developer']),
            content: z.union([z.string(), z.array(ContentPart)]),
            name: z.string().optional(),
          })
          .strict(),
      )
      .min(1),
    logprobs: z.boolean().nullish(),
    top_logprobs: z.number().int().min(0).max(20).nullish(),
  })
  .strict();

export const CompletionRequestSchema = z
  .object({
    ...common,
    prompt: z.union([z.string(), z.array(z.string()).length(1), z.array(z.number().int().min(0)).min(1)]),
    logprobs: z.number().int().min(0).max(20).nullish(),
    echo: z.literal(false, { message: 'echo is not supported' }).optional(),
  })
  .strict();

export type ChatRequestBody = z.infer<typeof ChatRequestSchema>;
export type CompletionRequestBody = z.infer<typeof CompletionRequestSchema>;
export type SkipBody = z.infer<typeof SkipSchema>;

/** Formats a zod path as a wire field name: `messages[0].content`. */
function fieldName(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
}

/** Parses `body` with `schema`, throwing an InvalidRequestError that names the first bad field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new InvalidRequestError('the request body must be a JSON object', null);
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const key = fieldName([...issue.path, issue.keys[0]!]);
    throw new InvalidRequestError(`unknown or unsupported field '${key}'`, key, 'unsupported_parameter');
  }
  const param = fieldName(issue.path);
  throw new InvalidRequestError(`${param || 'body'}: ${issue.message}`, param || null);
}
