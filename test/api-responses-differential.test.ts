// The Responses API, differentially and at random: fast-check draws conversations (instructions now
// and then, one to three user turns of random text) and settings (max_output_tokens, greedy or a
// seeded temperature, a skip core now and then) on one speculating server with a SQLite store.
// The same conversation must come out alike however it is sent: as one request with the whole
// conversation as input items, turn by turn chained with previous_response_id (each answer fed
// back as the next turn's history), streamed (the output text deltas put together, and the
// completed response's text), in the background (polled until it completes) and as retrieved
// from the store afterwards.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import fc from 'fast-check';
import OpenAI from 'openai';
import { startTestServer, type TestServer } from './helpers/start-server.ts';
import { sometimes } from './helpers/differential.ts';

const root = mkdtempSync(join(tmpdir(), 'skipserve-responses-diff-'));
let server: TestServer;
let client: OpenAI;
before(async () => {
  server = await startTestServer({ store: join(root, 'store.sqlite'), speculativeConfig: JSON.stringify({ method: 'skip', draft: { skip_layers: [1, 2] }, num_speculative_tokens: 3 }) }, { layers: 4, maxPositions: 1024 });
  client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

const text = fc.array(fc.integer({ min: 32, max: 126 }), { minLength: 1, maxLength: 12 }).map((codes) => String.fromCharCode(...codes));
const drawn = fc.record({
  instructions: fc.option(text, { nil: undefined }),
  turns: fc.array(text, { minLength: 1, maxLength: 3 }),
  maxOutputTokens: fc.integer({ min: 1, max: 16 }),
  sampling: sometimes(fc.record({ temperature: fc.constantFrom(0.7, 1), seed: fc.nat({ max: 1e6 }) }), 1 / 3),
  core: sometimes(fc.constantFrom({ skip_attention: [2] }, { skip_mlp: [3], mask_heads: { 0: [1] } }), 1 / 4),
});
type Drawn = typeof drawn extends fc.Arbitrary<infer T> ? T : never;

const settings = (d: Drawn) => ({ model: server.ctx.model.info.id, max_output_tokens: d.maxOutputTokens, temperature: 0, ...(d.sampling ?? {}), ...(d.core ? { skip: { policy: 'explicit', plan: d.core } } : {}) });
const user = (content: string) => ({ role: 'user' as const, content });

async function streamedText(body: object): Promise<{ deltas: string; final: string; status: string }> {
  let deltas = '';
  let final: OpenAI.Responses.Response | null = null;
  for await (const e of (await client.responses.create({ ...body, stream: true } as never)) as unknown as AsyncIterable<OpenAI.Responses.ResponseStreamEvent>) {
    if (e.type === 'response.output_text.delta') deltas += e.delta;
    if (e.type === 'response.completed' || e.type === 'response.incomplete') final = e.response;
  }
  return { deltas, final: final?.output.flatMap((o) => (o.type === 'message' ? o.content.map((c) => (c.type === 'output_text' ? c.text : '')) : [])).join('') ?? '', status: final?.status ?? 'none' };
}

async function background(body: object): Promise<OpenAI.Responses.Response> {
  let r = await client.responses.create({ ...body, background: true } as never);
  for (let i = 0; i < 500 && (r.status === 'queued' || r.status === 'in_progress'); i++) {
    await new Promise((res) => setTimeout(res, 10));
    r = await client.responses.retrieve(r.id);
  }
  return r;
}

test('random conversations: the Responses API answers alike whole, chained, streamed, in the background and as stored', { timeout: 600_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(drawn, async (d) => {
      const base = { ...settings(d), ...(d.instructions ? { instructions: d.instructions } : {}) };
      // Turn by turn, chained: each answer becomes history for the next turn.
      let previous: string | undefined;
      const history: object[] = [];
      let last: OpenAI.Responses.Response | null = null;
      for (const turn of d.turns) {
        last = await client.responses.create({ ...base, input: [user(turn)], ...(previous ? { previous_response_id: previous } : {}) } as never);
        history.push(user(turn), ...last.output.filter((o) => o.type === 'message').map((o) => ({ role: 'assistant', content: o.type === 'message' ? o.content.map((c) => (c.type === 'output_text' ? c.text : '')).join('') : '' })));
        previous = last.id;
      }
      const what = JSON.stringify(d);
      // The last turn again, with the whole conversation as its input.
      const wholeInput = history.slice(0, -1).concat(history.length && (history.at(-1) as { role: string }).role === 'assistant' ? [] : [history.at(-1)!]);
      const whole = await client.responses.create({ ...base, input: wholeInput } as never);
      assert.equal(whole.output_text, last!.output_text, `whole vs chained: ${what}`);
      assert.equal(whole.status, last!.status, `status, whole vs chained: ${what}`);
      assert.equal(whole.usage?.input_tokens, last!.usage?.input_tokens, `input tokens, whole vs chained: ${what}`);
      // Streamed, the deltas and the completed response alike.
      const s = await streamedText({ ...base, input: wholeInput });
      assert.equal(s.deltas, whole.output_text, `streamed deltas: ${what}`);
      assert.equal(s.final, whole.output_text, `streamed final: ${what}`);
      assert.equal(s.status, whole.status, `streamed status: ${what}`);
      // In the background, and as stored.
      const bg = await background({ ...base, input: wholeInput });
      assert.equal(bg.status, whole.status, `background status: ${what}`);
      assert.equal(bg.output_text, whole.output_text, `background: ${what}`);
      assert.equal((await client.responses.retrieve(whole.id)).output_text, whole.output_text, `stored: ${what}`);
    }),
    process.env.DIFFERENTIAL_RUNS ? { numRuns: Number(process.env.DIFFERENTIAL_RUNS), includeErrorInReport: true } : { numRuns: 40, seed: 53, includeErrorInReport: true },
  );
});
