/** One non-streaming chat completion from k6, recorded under its arm; shared by chat, policies and ab. */
import http from 'k6/http';
import { check } from 'k6';
import type { LoadArm } from '../../shared/arms.ts';
import { httpHeaders } from '../../shared/config.ts';
import type { LoadPrompt } from '../../shared/prompts.ts';
import { chatBody } from '../../shared/requests.ts';
import { resultFacts, type ResultFacts } from '../../shared/responses.ts';
import { cfg, record } from './common.ts';

/**
 * Sends the prompt to one arm (null: no policy, the server's A/B split decides) and records it
 * under the arm's name, or under the arm the server reports when `arm` is null. Returns the facts.
 */
export function chatOnce(model: string, prompt: LoadPrompt, arm: LoadArm | null, iteration: number, callerKey?: string): ResultFacts | null {
  const body = chatBody({ ...cfg, model }, prompt, arm, iteration, false);
  const res = http.post(`${cfg.baseUrl}/v1/chat/completions`, JSON.stringify(body), {
    headers: httpHeaders(cfg, callerKey),
    tags: { name: 'chat', arm: arm?.name ?? 'sticky' },
    timeout: '300s',
  });
  const ok = res.status === 200;
  const facts = ok ? resultFacts(res.json(), prompt.answer) : null;
  check(res, {
    'status is 200': (r) => r.status === 200,
    'has skip summary': () => facts?.policy !== undefined,
  });
  const label = arm?.name ?? facts?.arm ?? 'unassigned';
  record(label, ok && facts !== null, res.status >= 500 || res.status === 0, res.timings.duration, facts);
  return facts;
}
