// The model's generation_config.json as sampling defaults (vLLM's --generation-config auto): a request
// that leaves temperature, top_p, top_k, min_p or repetition_penalty out gets the model's value, one
// that sends a field keeps its own; `none` serves OpenAI's defaults; /v1/models shows what applies;
// beam search takes none; a bad value stops startup naming the field. Real servers on loopback.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';
import type { ModelDescriptionMsg } from '../src/api/grpc/messages.ts';
import { startTestServer, type TestServer } from './helpers/start-server.ts';
import { inferenceClient } from './helpers/grpc-client.ts';

const root = mkdtempSync(join(tmpdir(), 'skipserve-genconfig-'));
const DEFAULTS = { temperature: 0.5, top_k: 3, repetition_penalty: 1.2 };
/** A random 2-layer checkpoint whose generation_config.json carries `extra`. */
function checkpoint(name: string, extra: Record<string, unknown>): string {
  const dir = join(root, name);
  makeCheckpoint({ dir, layers: 2, hidden: 32, heads: 4, kvHeads: 2, maxPositions: 256, seed: 5 });
  const file = join(dir, 'generation_config.json');
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), ...extra }));
  return dir;
}
const model = checkpoint('ok', DEFAULTS);
let auto: TestServer;
let none: TestServer;
before(async () => {
  auto = await startTestServer({ model });
  none = await startTestServer({ model, generationConfig: 'none' });
});
after(async () => {
  await auto?.close();
  await none?.close();
  rmSync(root, { recursive: true, force: true });
});

const texts = async (s: TestServer, extra: Record<string, unknown>) => {
  const r = await fetch(`${s.http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Q: 2+3? A:', max_tokens: 16, ignore_eos: true, n: 3, seed: 7, ...extra }) });
  const body = (await r.json()) as { choices?: { text: string }[]; error?: unknown };
  assert.equal(r.status, 200, JSON.stringify(body));
  return body.choices!.map((c) => c.text);
};

test("a request that leaves the sampling fields out samples as the model's generation config says; its own fields win", async () => {
  const fromModel = await texts(auto, {});
  assert.deepEqual(fromModel, await texts(auto, DEFAULTS), 'the same draws as sending the generation config itself');
  assert.notDeepEqual(fromModel, await texts(none, {}));
  assert.deepEqual(await texts(none, {}), await texts(auto, { temperature: 1, top_k: -1, repetition_penalty: 1 }), 'none: OpenAI defaults');
  const greedy = await texts(auto, { temperature: 0 });
  assert.equal(new Set(greedy).size, 1, 'temperature 0 sent: greedy, the other defaults kept');
  assert.deepEqual(greedy, await texts(auto, { temperature: 0, top_k: 3, repetition_penalty: 1.2 }));
});

test('/v1/models and gRPC GetModel name the defaults that apply; beam search takes none of them', async () => {
  const data = async (s: TestServer) => ((await (await fetch(`${s.http}/v1/models`)).json()) as { data: Record<string, unknown>[] }).data[0]!;
  assert.deepEqual((await data(auto)).default_sampling_params, DEFAULTS);
  assert.equal((await data(none)).default_sampling_params, undefined);
  const client = inferenceClient(auto.grpcPort);
  const described = await new Promise<ModelDescriptionMsg>((resolve, reject) => client.GetModel!({}, (err: Error | null, res: ModelDescriptionMsg) => (err ? reject(err) : resolve(res))));
  client.close();
  assert.deepEqual(described.default_sampling_params, DEFAULTS, 'gRPC GetModel says the same');
  // repetition_penalty would be refused with beam search: the model's default does not apply to it.
  assert.equal((await texts(auto, { use_beam_search: true, n: 2, seed: undefined })).length, 2);
});

test('a bad value in generation_config.json stops startup naming the field', async () => {
  await assert.rejects(startTestServer({ model: checkpoint('bad', { top_p: 2 }) }), /generation_config\.json: top_p must be a number in \(0, 1\] \(got 2\)/);
});
