/**
 * One line of an OpenAI batch file (`{"custom_id", "method": "POST", "url", "body"}`) sent to a
 * running server, and its output line as OpenAI's Batch API writes it: `{"id", "custom_id",
 * "response": {"status_code", "request_id", "body"}, "error"}`. A 4xx is a response like any other
 * (its body the OpenAI error); a line that cannot be sent at all has `error` instead. A 429 waits
 * its Retry-After and is sent again.
 */
import { randomUUID } from 'node:crypto';

/** The endpoints a batch line may name. */
export const BATCH_URLS = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses'];

export interface BatchOutput {
  id: string;
  custom_id: string | null;
  response: { status_code: number; request_id: string | null; body: unknown } | null;
  error: { code: string; message: string } | null;
}

const RETRIES_ON_429 = 20;

/** Sends line `n` (1-based, for messages) of the batch to the server at `base`; never throws. */
export async function runBatchLine(base: string, line: string, n: number, headers: Record<string, string> = {}): Promise<BatchOutput> {
  const id = `batch_req_${randomUUID().replaceAll('-', '')}`;
  let customId: string | null = null;
  const fail = (code: string, message: string): BatchOutput => ({ id, custom_id: customId, response: null, error: { code, message: `line ${n}: ${message}` } });
  let req: { custom_id?: unknown; method?: unknown; url?: unknown; body?: unknown };
  try {
    req = JSON.parse(line);
  } catch (err) {
    return fail('invalid_json', `not JSON: ${(err as Error).message}`);
  }
  if (req === null || typeof req !== 'object' || Array.isArray(req)) return fail('invalid_request', 'each line must be a JSON object');
  customId = typeof req.custom_id === 'string' ? req.custom_id : null;
  if (customId === null) return fail('invalid_request', 'custom_id must be a string');
  if (req.method !== 'POST') return fail('invalid_request', `method must be POST; got ${JSON.stringify(req.method)}`);
  if (typeof req.url !== 'string' || !BATCH_URLS.includes(req.url)) return fail('invalid_request', `url must be one of ${BATCH_URLS.join(', ')}; got ${JSON.stringify(req.url)}`);
  const body = req.body as Record<string, unknown> | undefined;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return fail('invalid_request', 'body must be a JSON object');
  if (body.stream) return fail('invalid_request', 'a batch line cannot stream (stream: true)');
  for (let attempt = 0; ; attempt++) {
    let r: Response;
    try {
      r = await fetch(base + req.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    } catch (err) {
      return fail('unreachable', (err as Error).message);
    }
    const text = await r.text();
    if (r.status === 429 && attempt < RETRIES_ON_429) {
      await new Promise((res) => setTimeout(res, 1000 * Math.max(1, Number(r.headers.get('retry-after')) || 1)));
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
    const requestId = parsed !== null && typeof parsed === 'object' && typeof (parsed as { id?: unknown }).id === 'string' ? (parsed as { id: string }).id : null;
    return { id, custom_id: customId, response: { status_code: r.status, request_id: requestId, body: parsed }, error: null };
  }
}
