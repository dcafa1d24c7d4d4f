import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { status } from '@grpc/grpc-js';
import { loadConfig } from '../src/config.ts';
import { ConfigError, InvalidRequestError, QueueFullError, toGrpc, toHttp, NotFoundError, AuthenticationError, UnavailableError } from '../src/errors.ts';

test('config: defaults, file < env < flags, errors name the flag and env var', () => {
  const d = loadConfig([], {});
  assert.equal(d.model, 'models/default');
  assert.equal(d.httpPort, 8000);
  assert.equal(d.grpcPort, 50051);
  assert.equal(d.defaultPolicy, 'none');
  const dir = mkdtempSync(join(tmpdir(), 'skipserve-cfg-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ maxBatch: 4, maxQueue: 3, httpPort: 1 }));
  const c = loadConfig(['--config', file, '--http-port', '9001'], { SKIPSERVE_MAX_QUEUE: '7', SKIPSERVE_API_KEY: 'k' });
  assert.equal(c.maxBatch, 4);
  assert.equal(c.maxQueue, 7);
  assert.equal(c.httpPort, 9001);
  assert.equal(c.apiKey, 'k');
  assert.deepEqual(loadConfig(['--profile-batches', '2,8'], {}).profileBatches, [2, 8]);
  assert.throws(() => loadConfig(['--max-batch', '0'], {}), (e: ConfigError) => /--max-batch \(SKIPSERVE_MAX_BATCH\)/.test(e.message));
  assert.throws(() => loadConfig([], { SKIPSERVE_HTTP_PORT: 'abc' }), /--http-port/);
  assert.throws(() => loadConfig(['--bogus', '1'], {}), /bogus/);
  writeFileSync(file, JSON.stringify({ maxBatch: 4, maxBtach: 3 }));
  assert.throws(() => loadConfig(['--config', file], {}), /unknown config key 'maxBtach'/);
});

test('errors: one mapping to HTTP status, OpenAI body and gRPC code', () => {
  const bad = new InvalidRequestError('n must be between 1 and 8', 'n');
  assert.deepEqual(toHttp(bad), { status: 400, body: { error: { message: 'n must be between 1 and 8', type: 'invalid_request_error', param: 'n', code: 'invalid_value' } } });
  assert.deepEqual(toGrpc(bad), { code: status.INVALID_ARGUMENT, details: 'n: n must be between 1 and 8' });
  assert.equal(toHttp(new QueueFullError('full')).status, 429);
  assert.equal(toGrpc(new QueueFullError('full')).code, status.RESOURCE_EXHAUSTED);
  assert.equal(toHttp(new NotFoundError('x', 'model')).status, 404);
  assert.equal(toGrpc(new AuthenticationError('x')).code, status.UNAUTHENTICATED);
  assert.equal(toHttp(new UnavailableError('x')).status, 503);
  const internal = toHttp(new Error('boom'));
  assert.equal(internal.status, 500);
  assert.match(internal.body.error.message, /boom/);
  assert.equal(toGrpc(new Error('boom')).code, status.INTERNAL);
});
