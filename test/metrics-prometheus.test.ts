// /metrics after real traffic: passes `promtool check metrics` and carries the agreed series.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, metricValue, type TestServer } from './helpers/start-server.ts';

let server: TestServer;
const dir = mkdtempSync(join(tmpdir(), 'skipserve-metrics-'));
before(async () => {
  server = await startTestServer({ store: join(dir, 'store.sqlite') });
});
after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const post = (path: string, body: unknown) => fetch(`${server.http}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

test('speedup, diversity and latency series after a best-of-N request; promtool accepts the exposition', async () => {
  const r = await post('/v1/completions', { prompt: 'Q: 3+4? A:', n: 4, max_tokens: 8, seed: 2, skip: { policy: 'random-heads', k: 2 } });
  assert.equal(r.status, 200);
  const body = (await r.json()) as { id: string; usage: { prompt_tokens: number } };
  const usage = body.usage;
  assert.equal((await post('/v1/feedback', { id: body.id, source: 'grader', answer: '7' })).status, 200);
  assert.equal((await post('/v1/feedback', { id: 'cmpl-unknown', source: 'grader', answer: '7' })).status, 404);
  // Two candidates that end at once on end-of-sequence (id 1 on the test checkpoint), on the full model.
  assert.equal((await post('/v1/completions', { prompt: 'Q: 3+4? A:', n: 2, max_tokens: 4, logit_bias: { '1': 100 } })).status, 200);
  const q = await post('/v1/completions', { prompt: 'Q: 3+4? A:', n: 2, max_tokens: 4, seed: 2, skip: { policy: 'nope' } });
  assert.equal(q.status, 400);
  const res = await fetch(`${server.http}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const text = await res.text();
  const p = 'policy="random-heads"';
  assert.equal(metricValue(text, `skipserve_requests_total{${p},outcome="ok"}`), 1);
  assert.equal(metricValue(text, `skipserve_requests_total{policy="nope",outcome="invalid"}`), undefined, 'unknown policy names never become label values');
  for (const name of ['speedup_ratio', 'skipped_compute_ratio', 'unique_answers_ratio', 'answer_entropy', 'distinct_2_ratio', 'pairwise_distance_ratio', 'majority_share_ratio', 'time_to_first_token_seconds', 'request_duration_seconds', 'queue_time_seconds']) {
    assert.equal(metricValue(text, `skipserve_${name}_count{${p}}`), 1, name);
  }
  assert.ok(metricValue(text, `skipserve_inter_token_latency_seconds_count{${p}}`)! >= 4 * 6);
  assert.equal(metricValue(text, `skipserve_generation_tokens_total{${p}}`), 32);
  assert.equal(metricValue(text, `skipserve_prompt_tokens_total{${p}}`), usage.prompt_tokens, 'the prompt is prefilled once for all 4 candidates');
  // Per request, as vLLM's request_prompt_tokens and request_generation_tokens; candidates by how they ended.
  assert.equal(metricValue(text, `skipserve_request_prompt_tokens_sum{${p}}`), usage.prompt_tokens);
  assert.equal(metricValue(text, `skipserve_request_generation_tokens_sum{${p}}`), 32);
  assert.equal(metricValue(text, `skipserve_request_generation_tokens_count{${p}}`), 1);
  assert.equal(metricValue(text, `skipserve_candidates_total{${p},finish_reason="length"}`), 4);
  assert.equal(metricValue(text, `skipserve_candidates_total{policy="none",finish_reason="stop"}`), 2);
  assert.equal(metricValue(text, `skipserve_request_generation_tokens_sum{policy="none"}`), 0, 'an end-of-sequence token is not generated text');
  assert.equal(metricValue(text, 'skipserve_running_rows'), 0);
  assert.equal(metricValue(text, 'skipserve_waiting_requests'), 0);
  assert.ok(metricValue(text, 'skipserve_batch_size_count')! >= 7);
  assert.ok(text.includes('nodejs_eventloop_lag_seconds'), 'default metrics are exported');
  // The store's series: records written, feedback by outcome, write latency, model info.
  assert.equal(metricValue(text, 'skipserve_store_records_written_total'), 2, 'the two completed requests');
  assert.equal(metricValue(text, 'skipserve_feedback_received_total{outcome="stored"}'), 1);
  assert.equal(metricValue(text, 'skipserve_feedback_received_total{outcome="not_found"}'), 1);
  assert.equal(metricValue(text, 'skipserve_store_write_duration_seconds_count{operation="feedback"}'), 2);
  assert.ok(metricValue(text, 'skipserve_store_write_duration_seconds_count{operation="records"}')! >= 1);
  assert.equal(metricValue(text, 'skipserve_store_pending_records'), 0);
  assert.ok(/^skipserve_model_info\{model_version="[^"]+@[0-9a-f]{12}",selector_version="none"\} 1$/m.test(text), 'model info names the serving versions');
  const which = spawnSync('which', ['promtool'], { encoding: 'utf8' });
  if (which.status !== 0) assert.fail('promtool is not installed: .ci/run installs it (Debian package prometheus)');
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
});
