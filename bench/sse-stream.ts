/**
 * One streamed completion timed on the client: the arrival time of every SSE chunk that carries a
 * token, so the benchmark can report time to first token and the decode rate of a single stream
 * as the user sees it (HTTP, engine, sampling, detokenizing and the model step together).
 */

export interface StreamTiming {
  /** Request sent -> first token chunk, ms. */
  ttftMs: number;
  /** Token chunks received (one per generated token). */
  chunks: number;
  /** Chunks after the first / time from the first to the last chunk: the decode rate, tokens/s. */
  decodeTokensPerS: number;
  completionTokens: number;
}

/** POSTs `body` with stream: true to `${url}/v1/completions` and times the chunks. */
export async function timeStream(url: string, body: Record<string, unknown>): Promise<StreamTiming> {
  const t0 = performance.now();
  const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }) });
  if (r.status !== 200 || !r.body) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
  const times: number[] = [];
  let completionTokens = 0;
  let buf = '';
  const dec = new TextDecoder();
  for await (const part of r.body as unknown as AsyncIterable<Uint8Array>) {
    buf += dec.decode(part, { stream: true });
    let cut: number;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const data = event.split('\n').find((l) => l.startsWith('data: '))?.slice(6);
      if (!data || data === '[DONE]') continue;
      const chunk = JSON.parse(data) as { choices: { finish_reason: string | null }[]; usage?: { completion_tokens: number }; error?: unknown };
      if (chunk.error) throw new Error(`stream error: ${data}`);
      if (chunk.usage) completionTokens = chunk.usage.completion_tokens;
      if (chunk.choices.length) times.push(performance.now());
    }
  }
  const n = times.length;
  return { ttftMs: times[0]! - t0, chunks: n, decodeTokensPerS: n > 1 ? ((n - 1) * 1000) / (times[n - 1]! - times[0]!) : 0, completionTokens };
}
