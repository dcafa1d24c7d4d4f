/**
 * The load-test logic shared by the k6 scripts and the Node driver: arm parsing, thresholds (the
 * driver evaluates k6's expressions itself), response facts, the SSE reader and the stream tracker;
 * and the k6 scripts themselves: they type-check against @types/k6 and import only k6 modules and
 * the shared files (which import nothing from Node or k6).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_ARMS, MIN_P50_REQUESTS, parseArms, parseServerArms, skipExtension } from '../load-tests/shared/arms.ts';
import { loadConfig } from '../load-tests/shared/config.ts';
import { PROMPTS, promptAt } from '../load-tests/shared/prompts.ts';
import { HARD_PROMPTS } from '../load-tests/shared/prompts-hard.ts';
import { generateSplit } from '../models/train/generator/split.ts';
import { chatBody, grpcGenerateRequest } from '../load-tests/shared/requests.ts';
import { resultFacts, StreamTracker } from '../load-tests/shared/responses.ts';
import { armsForIteration, scenarioNamed } from '../load-tests/shared/scenarios.ts';
import { checkThreshold, thresholdsFor } from '../load-tests/shared/thresholds.ts';
import { sseData } from '../load-tests/driver/sse.ts';
import { formatSummary, summarize } from '../load-tests/driver/summary.ts';
import type { Sample } from '../load-tests/driver/types.ts';

const LOAD = join(import.meta.dirname, '..', 'load-tests');

test('arms: lists, JSON and errors that name the field', () => {
  assert.deepEqual(parseArms('none, random-heads').map((a) => a.name), ['none', 'random-heads']);
  const [arm] = parseArms('[{"name":"lb","policy":"latency-budget","targetSpeedup":1.4,"minSpeedup":1.1}]');
  assert.deepEqual(skipExtension(arm!), { policy: 'latency-budget', target_speedup: 1.4 });
  assert.throws(() => parseArms('[{"policy":"fastest"}]'), /arms\[0\]\.policy/);
  assert.throws(() => parseArms('[{"policy":"none","kk":2}]'), /arms\[0\]\.kk' is unknown/);
  assert.throws(() => parseArms('none,none'), /twice/);
  assert.throws(() => parseServerArms('{"arms":[{"name":"a","policy":"none","weight":0}]}'), /arms\[0\]\.weight/);
  assert.throws(() => loadConfig({ N: '0' }), /N='0'/);
  assert.throws(() => loadConfig({ BASE_URL: 'localhost:8000' }), /BASE_URL/);
});

test('requests: the same prompt and seed per iteration for every arm; paired and rotating scenarios', () => {
  const cfg = loadConfig({});
  const a = chatBody(cfg, PROMPTS[0]!, DEFAULT_ARMS[0]!, 3, false);
  const b = chatBody(cfg, PROMPTS[0]!, DEFAULT_ARMS[1]!, 3, true);
  assert.equal(a.seed, b.seed);
  assert.deepEqual(b.stream_options, { include_usage: true });
  assert.equal(grpcGenerateRequest(cfg, PROMPTS[0]!, null, 3).seed, String(a.seed));
  // The known answer and the tags go along, so the server's store records load tests like evaluations.
  assert.deepEqual(a.skip, { policy: DEFAULT_ARMS[0]!.policy, reference_answer: PROMPTS[0]!.answer });
  assert.deepEqual(a.metadata, { source: 'load-test', prompt: PROMPTS[0]!.id, arm: DEFAULT_ARMS[0]!.name });
  assert.deepEqual(grpcGenerateRequest(cfg, PROMPTS[0]!, null, 3).skip, { reference_answer: PROMPTS[0]!.answer });
  assert.equal(armsForIteration(scenarioNamed('policies'), DEFAULT_ARMS, 5).length, DEFAULT_ARMS.length);
  assert.equal(armsForIteration(scenarioNamed('chat'), DEFAULT_ARMS, 7)[0], DEFAULT_ARMS[7 % DEFAULT_ARMS.length]);
  assert.deepEqual(armsForIteration(scenarioNamed('ab'), DEFAULT_ARMS, 1), [null]);
  assert.throws(() => scenarioNamed('soak'), /one of chat, chat-stream/);
});

test('thresholds: k6 expressions evaluated like k6; every arm must see traffic', () => {
  const p95 = checkThreshold('p(95)<100', [10, 20, 30, 200]);
  assert.equal(p95.ok, false);
  assert.ok(Math.abs(p95.value - 174.5) < 1e-9, `p(95) = ${p95.value}`);
  assert.equal(checkThreshold('rate<=0.25', [0, 0, 0, 1]).ok, true);
  assert.equal(checkThreshold('rate<=0.25', [0, 1, 0, 1]).ok, false);
  assert.equal(checkThreshold('count==0', [0, 0]).ok, true);
  assert.equal(checkThreshold('count>0', []).ok, false);
  assert.equal(checkThreshold('avg>=1.1', []).ok, false, 'a trend with no samples fails');
  assert.throws(() => checkThreshold('mean<1', [1]), /aggregate 'mean'/);
  const t = thresholdsFor(loadConfig({}), DEFAULT_ARMS);
  for (const arm of DEFAULT_ARMS) assert.deepEqual(t[`skip_requests{arm:${arm.name}}`], ['count>0']);
  assert.deepEqual(t['skip_speedup{arm:latency-budget}'], ['avg>=1.02']);
  assert.deepEqual(t.skip_server_errors, ['count==0']);
});

test('p50 against the none arm: each skip-core arm must show its saving once both arms have enough requests', () => {
  const cfg = { ...loadConfig({}), arms: parseArms('[{"policy":"none"},{"name":"lb","policy":"latency-budget","targetSpeedup":1.3,"minP50Speedup":1.05},{"policy":"random-heads"}]') };
  const sample = (arm: string, ms: number): Sample => ({ arm, ok: true, serverError: false, status: '200', cut: false, startMs: 0, durationMs: ms, itlMs: [] });
  const run = (count: number, lbMs: number) => [
    ...Array.from({ length: count }, (_, i) => sample('none', 100 + i)),
    ...Array.from({ length: count }, (_, i) => sample('lb', lbMs + i)),
    ...Array.from({ length: count }, (_, i) => sample('random-heads', 100 + i)),
  ];
  const fast = summarize(cfg, scenarioNamed('policies'), run(MIN_P50_REQUESTS, 80), 10, MIN_P50_REQUESTS);
  const check = fast.thresholds.find((t) => t.key === 'skip_request_duration{arm:lb} p50 vs none')!;
  assert.ok(check.ok && Math.abs(check.value - 109.5 / 89.5) < 1e-9, JSON.stringify(check));
  assert.equal(fast.arms.find((a) => a.arm === 'random-heads')!.p50VsNone, 1);
  assert.equal(fast.thresholds.filter((t) => t.key.includes('p50 vs')).length, 1, 'only arms with minP50Speedup are checked');
  const slow = summarize(cfg, scenarioNamed('policies'), run(MIN_P50_REQUESTS, 100), 10, MIN_P50_REQUESTS);
  assert.equal(slow.passed, false);
  assert.match(formatSummary(slow), /FAIL skip_request_duration\{arm:lb\} p50 vs none >=1.05/);
  const smoke = summarize(cfg, scenarioNamed('policies'), run(3, 100), 10, 3);
  assert.equal(smoke.thresholds.some((t) => t.key.includes('p50 vs')), false, 'a smoke run with few requests compares no p50');
  assert.throws(() => parseArms('[{"policy":"latency-budget","minP50Speedup":-1}]'), /minP50Speedup/);
});

test('facts: HTTP body, k6 gRPC (camelCase) and grpc-js (snake_case) responses read alike', () => {
  const http = {
    choices: [{ index: 0, answer: '9' }, { index: 1, answer: '8' }],
    usage: { prompt_tokens: 20, completion_tokens: 30 },
    skip: { policy: 'random-heads', arm: 'a', selected_index: 0, speedup: 1.2, diversity: { unique_answers: 0.5, answer_entropy: 1 } },
  };
  const camel = { candidates: [{ index: 0, answer: '9', selected: true }], usage: { promptTokens: 20, completionTokens: '30' }, skip: { policy: 'random-heads', selectedIndex: 0, speedup: 1.2, diversity: { uniqueAnswers: 0.5, answerEntropy: 1 } } };
  for (const body of [http, camel]) {
    const f = resultFacts(body, '9');
    assert.equal(f.completionTokens, 30);
    assert.equal(f.speedup, 1.2);
    assert.equal(f.uniqueAnswers, 0.5);
    assert.equal(f.correct, true);
  }
  assert.equal(resultFacts(http, '8').correct, false);
});

test('SSE reader + stream tracker: TTFT, per-candidate gaps, [DONE], answers from the summary chunk', async () => {
  const events = [
    { choices: [{ index: 0, delta: { role: 'assistant', content: 'A' } }] },
    { choices: [{ index: 1, delta: { content: 'B' } }] },
    { choices: [{ index: 0, delta: { content: 'C' } }] },
    { choices: [], usage: { prompt_tokens: 5, completion_tokens: 3 }, skip: { policy: 'none', selected_index: 1, choices: [{ index: 0, answer: '1' }, { index: 1, answer: '2' }] } },
  ];
  const text = `: comment\n\n${events.map((e) => `data: ${JSON.stringify(e)}\r\n\r\n`).join('')}data: [DONE]\n\n`;
  // Split into awkward pieces (mid-line, mid-CRLF) as a network would.
  const bytes = new TextEncoder().encode(text);
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < bytes.length; i += 7) c.enqueue(bytes.slice(i, i + 7));
      c.close();
    },
  });
  const got: string[] = [];
  for await (const d of sseData(body)) got.push(d);
  assert.equal(got.length, 5);
  const tr = new StreamTracker(100);
  got.forEach((d, i) => tr.onSseData(d, 110 + i * 10));
  assert.equal(tr.ttftMs, 10);
  assert.deepEqual(tr.itlMs, [20]);
  assert.equal(tr.done, true);
  const f = tr.facts('2');
  assert.equal(f.completionTokens, 3);
  assert.equal(f.answer, '2');
  assert.equal(f.correct, true);
});

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? tsFiles(join(dir, n)) : n.endsWith('.ts') ? [join(dir, n)] : []));
}

test('k6 scripts import only k6 modules and shared files; shared files import only each other', () => {
  const importRe = /^\s*import\s[^'"]*['"]([^'"]+)['"]/gm;
  for (const f of tsFiles(join(LOAD, 'k6'))) {
    if (f.endsWith('.d.ts')) continue;
    for (const [, spec] of readFileSync(f, 'utf8').matchAll(importRe)) {
      assert.ok(/^k6(\/|$)/.test(spec!) || spec!.startsWith('.'), `${relative(LOAD, f)} imports '${spec}'`);
      if (spec!.startsWith('.')) assert.ok(!spec!.includes('/driver/'), `${relative(LOAD, f)} imports the driver`);
    }
  }
  for (const f of tsFiles(join(LOAD, 'shared'))) {
    for (const [, spec] of readFileSync(f, 'utf8').matchAll(importRe)) assert.match(spec!, /^\.\/[a-z-]+\.ts$/, `${relative(LOAD, f)} imports '${spec}'`);
  }
});

test('k6 scripts type-check against @types/k6 (npm run typecheck:k6)', () => {
  const tsc = join(import.meta.dirname, '..', 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '--noEmit', '-p', join(LOAD, 'tsconfig.json')], { encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    assert.fail(`tsc failed:\n${(err as { stdout?: string }).stdout ?? ''}`);
  }
});

test("TIER=hard sends the hard-tier test problems (exactly the generator's) with room for their solutions", () => {
  const gen = [...generateSplit({ split: 'test', tier: 'hard', seed: 101, count: 32 })];
  assert.deepEqual(HARD_PROMPTS.map((p) => [p.question, p.answer]), gen.map((p) => [p.question, String(p.answer)]));
  const cfg = loadConfig({ TIER: 'hard' });
  assert.equal(cfg.tier, 'hard');
  assert.equal(cfg.maxTokens, 360);
  assert.equal(promptAt(33, 'hard'), HARD_PROMPTS[1]);
  assert.equal(promptAt(1), PROMPTS[1]);
  assert.throws(() => loadConfig({ TIER: 'expert' }), /TIER='expert'/);
});
