/** HTTP transport of the driver: chat completions via fetch, streamed through the shared StreamTracker. */
import { httpHeaders, type LoadConfig } from '../shared/config.ts';
import { chatBody } from '../shared/requests.ts';
import { resultFacts, StreamTracker } from '../shared/responses.ts';
import { sseData } from './sse.ts';
import type { Sample, Send } from './types.ts';

/** A Send for POST /v1/chat/completions (streaming when `stream`). */
export function httpSender(cfg: LoadConfig, stream: boolean): Send {
  const url = `${cfg.baseUrl}/v1/chat/completions`;
  return async (req, signal) => {
    const label = req.arm?.name ?? 'unassigned';
    const startMs = performance.now();
    const sample: Sample = { arm: label, ok: false, serverError: false, status: 'transport', cut: false, startMs, durationMs: 0, itlMs: [], callerKey: req.callerKey };
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: httpHeaders(cfg, req.callerKey),
        body: JSON.stringify(chatBody(cfg, req.prompt, req.arm, req.iteration, stream)),
        signal,
      });
      sample.status = String(res.status);
      sample.serverError = res.status >= 500;
      if (!res.ok || !stream || !res.body) {
        const text = await res.text();
        if (res.ok) {
          sample.facts = resultFacts(JSON.parse(text), req.prompt.answer);
          sample.ok = sample.facts.policy !== undefined;
          if (!sample.ok) sample.error = `200 without a skip summary: ${text.slice(0, 160)}`;
        } else {
          sample.error = text.slice(0, 200);
        }
      } else {
        const tracker = new StreamTracker(startMs);
        for await (const data of sseData(res.body)) tracker.onSseData(data, performance.now());
        sample.ok = tracker.done;
        if (!tracker.done) sample.error = 'stream ended without data: [DONE]';
        sample.facts = tracker.facts(req.prompt.answer);
        sample.ttftMs = tracker.ttftMs;
        sample.itlMs = tracker.itlMs;
      }
    } catch (err) {
      sample.cut = signal.aborted;
      sample.serverError = !signal.aborted;
      sample.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
    sample.durationMs = performance.now() - startMs;
    if (!req.arm && sample.facts?.arm) sample.arm = sample.facts.arm;
    return sample;
  };
}
