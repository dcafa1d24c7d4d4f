/**
 * Auth end to end: keys from --api-keys-file, compared in constant time, rotated by rewriting the
 * file (no restart), 401 / UNAUTHENTICATED bodies that reveal nothing, /metrics behind a key with
 * --metrics-auth, /health and /ready open; malformed gRPC messages answered INVALID_ARGUMENT and a
 * refused GenerateStream gets its status.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startTestServer, waitFor, type TestServer } from './helpers/start-server.ts';
import { inferenceClient } from './helpers/grpc-client.ts';

const KEY_A = 'key-a-0123456789abcdef';
const KEY_B = 'key-b-fedcba9876543210';
const file = join(mkdtempSync(join(tmpdir(), 'skipserve-keys-')), 'keys.txt');
let server: TestServer;
let client: grpc.Client & Record<string, Function>;

before(async () => {
  writeFileSync(file, `# rotated by the test\n${KEY_A}\n`);
  server = await startTestServer({ apiKeysFile: file, metricsAuth: true });
  client = inferenceClient(server.grpcPort);
});
after(async () => {
  client?.close();
  await server?.close();
});

const models = (key?: string) => fetch(`${server.http}/v1/models`, { headers: key ? { authorization: `Bearer ${key}` } : {} });

function grpcModel(key?: string): Promise<grpc.ServiceError | null> {
  const md = new grpc.Metadata();
  if (key) md.set('authorization', `Bearer ${key}`);
  return new Promise((resolve) => client.GetModel!({}, md, (err: grpc.ServiceError | null) => resolve(err)));
}

test('keys from a file, rotated without a restart; refusals say nothing about the keys', async () => {
  assert.equal((await models(KEY_A)).status, 200);
  const refused = await models(KEY_B);
  assert.equal(refused.status, 401);
  const body = (await refused.json()) as { error: { message: string; code: string } };
  assert.equal(body.error.code, 'invalid_api_key');
  assert.ok(!body.error.message.includes(KEY_A) && !body.error.message.includes('key-a'), 'no key material in the error');
  assert.equal((await models()).status, 401);
  assert.equal((await grpcModel(KEY_A)), null);
  assert.equal((await grpcModel('wrong'))?.code, grpc.status.UNAUTHENTICATED);

  writeFileSync(file, `${KEY_B}\n`);
  await waitFor(async () => (await models(KEY_B)).status === 200, 10_000, 'the rotated key to take effect');
  assert.equal((await models(KEY_A)).status, 401, 'the old key is gone');
  assert.equal((await grpcModel(KEY_B)), null);
});

test('/metrics needs a key with --metrics-auth; /health and /ready stay open', async () => {
  assert.equal((await fetch(`${server.http}/metrics`)).status, 401);
  assert.equal((await fetch(`${server.http}/metrics`, { headers: { authorization: `Bearer ${KEY_B}` } })).status, 200);
  assert.equal((await fetch(`${server.http}/health`)).status, 200);
  assert.equal((await fetch(`${server.http}/ready`)).status, 200);
});

test('a malformed gRPC message is INVALID_ARGUMENT, and a refused stream gets its status', async () => {
  const raw = new grpc.Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
  try {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${KEY_B}`);
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]); // field 1, a length past the end
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      raw.makeUnaryRequest('/skipserve.v1.Inference/Generate', (b: Buffer) => b, (b: Buffer) => b, garbage, md, (e) => resolve(e)),
    );
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, err?.details);
    const stream = client.GenerateStream!({ prompt: 'x', n: 999 }, md) as grpc.ClientReadableStream<unknown>;
    const status = await new Promise<grpc.ServiceError>((resolve) => {
      stream.on('error', resolve);
      stream.on('data', () => {});
    });
    assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
    assert.match(status.details, /^n: /);
  } finally {
    raw.close();
  }
});
