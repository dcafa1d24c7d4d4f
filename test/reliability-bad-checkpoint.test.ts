// Bad checkpoints fail fast and clearly. In process: generated corrupt safetensors headers
// (fast-check) always raise an Error that names the file, never a TypeError from deep inside.
// Through the real CLI: `serve` and `generate` on a corrupt header, a wrong dtype, a truncated
// shard, a tokenizer of another model and unparsable JSON exit non-zero within seconds, with a
// message naming the file and no stack trace.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, truncateSync, statSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { readSafetensorsHeader } from '../src/model/safetensors.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const scratch = mkdtempSync(join(tmpdir(), 'skipserve-badst-'));
dirs.push(scratch);

function checkpoint(o: Parameters<typeof makeCheckpoint>[0] = {}): string {
  const d = makeCheckpoint({ layers: 2, ...o });
  dirs.push(d);
  return d;
}

/** A safetensors file: 8-byte little-endian header length, the header bytes, then `data`. */
function safetensors(header: Buffer, data = Buffer.alloc(0), declared = BigInt(header.length)): Buffer {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declared);
  return Buffer.concat([len, header, data]);
}

const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined));
const entry = fc.record(
  {
    dtype: fc.oneof(fc.constantFrom('F32', 'F16', 'BF16', 'I64', 'F64', 'U8', 'BOOL', 'toString', '__proto__', 'constructor', ''), anyValue),
    shape: fc.oneof(fc.array(fc.oneof(fc.integer({ min: -4, max: 64 }), fc.double(), fc.constant(2 ** 60)), { maxLength: 4 }), anyValue),
    data_offsets: fc.oneof(fc.tuple(fc.integer({ min: -8, max: 4096 }), fc.integer({ min: -8, max: 4096 })), fc.array(fc.nat({ max: 4096 }), { maxLength: 4 }), anyValue),
  },
  { requiredKeys: [] },
);
const header = fc.oneof(
  fc.dictionary(fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__metadata__', '__proto__', 'model.norm.weight')), fc.oneof(entry, anyValue), { maxKeys: 4 }).map((h) => Buffer.from(JSON.stringify(h))),
  fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  fc.string({ unit: 'binary', maxLength: 40 }).map((s) => Buffer.from(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"${s}`)),
);
const file = fc.oneof(
  { arbitrary: fc.tuple(header, fc.uint8Array({ maxLength: 256 })).map(([h, d]) => safetensors(h, Buffer.from(d))), weight: 6 },
  { arbitrary: fc.tuple(header, fc.constantFrom(0n, 2n ** 63n, 2n ** 64n - 1n, 100n * 1024n * 1024n + 1n)).map(([h, n]) => safetensors(h, Buffer.alloc(0), n)), weight: 1 },
  { arbitrary: fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b)), weight: 1 },
);

describe('corrupt safetensors headers (fast-check)', () => {
  it('either parse into entries inside the file or throw an Error naming the file', () => {
    const path = join(scratch, 'model.safetensors');
    fc.assert(
      fc.property(file, (bytes) => {
        writeFileSync(path, bytes);
        let entries;
        try {
          entries = readSafetensorsHeader(path);
        } catch (err) {
          assert.equal((err as Error).constructor, Error, `${(err as Error).constructor.name}: ${(err as Error).message}`);
          assert.ok((err as Error).message.startsWith(`${path}: `), (err as Error).message);
          return;
        }
        for (const e of entries) {
          assert.ok(['F32', 'F16', 'BF16'].includes(e.dtype));
          assert.ok(e.offset >= 8 && e.offset + e.byteLength <= bytes.length);
          assert.ok(e.shape.every((d) => Number.isSafeInteger(d) && d >= 0));
        }
      }),
      { numRuns: 2000, seed: 7 },
    );
  });

  it('a checkpoint with such a header fails to open with the file named', () => {
    const dir = checkpoint({ tokenizer: false });
    const weights = join(dir, 'model.safetensors');
    fc.assert(
      fc.property(header, (h) => {
        writeFileSync(weights, safetensors(h));
        assert.throws(() => openCheckpoint(dir), (err: Error) => err.constructor === Error && /model\.safetensors/.test(err.message));
      }),
      { numRuns: 200, seed: 8 },
    );
  });
});

/** Runs the CLI; resolves with its exit code, stderr and time, or code null when it hung past `ms`. */
function cli(args: string[], ms = 60_000): Promise<{ code: number | null; stderr: string; seconds: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/skipserve.mjs', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdout.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal === 'SIGKILL' ? null : code, stderr, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

function editHeader(path: string, f: (h: Record<string, any>) => void): void {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const h = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  f(h);
  writeFileSync(path, safetensors(Buffer.from(JSON.stringify(h)), buf.subarray(8 + n)));
}

const bad: { name: string; file: RegExp; make: () => string }[] = [
  {
    name: 'corrupt header (generated)',
    file: /model\.safetensors/,
    make: () => {
      const d = checkpoint();
      const [h] = fc.sample(header.filter((b) => b.length > 0), { numRuns: 1, seed: 3 });
      writeFileSync(join(d, 'model.safetensors'), safetensors(h!));
      return d;
    },
  },
  {
    name: 'wrong dtype',
    file: /model\.safetensors.*unsupported dtype I64/,
    make: () => {
      const d = checkpoint();
      editHeader(join(d, 'model.safetensors'), (h) => (h['model.norm.weight'].dtype = 'I64'));
      return d;
    },
  },
  {
    name: 'truncated shard',
    file: /model-00002-of-00002\.safetensors: truncated/,
    make: () => {
      const d = checkpoint({ shards: 2 });
      const shard = join(d, 'model-00002-of-00002.safetensors');
      truncateSync(shard, Math.floor(statSync(shard).size / 2));
      return d;
    },
  },
  {
    name: 'tokenizer of another model (ids past vocab_size)',
    file: /tokenizer\.json does not match the model: .*vocab_size 272/,
    make: () => {
      const d = checkpoint();
      const p = join(d, 'tokenizer.json');
      const t = JSON.parse(readFileSync(p, 'utf8'));
      for (let i = 0; i < 40; i++) t.model.vocab[`extra${i}`] = 272 + i;
      writeFileSync(p, JSON.stringify(t));
      return d;
    },
  },
  {
    name: 'tokenizer.json not JSON',
    file: /tokenizer\.json is not valid JSON/,
    make: () => {
      const d = checkpoint();
      writeFileSync(join(d, 'tokenizer.json'), '{"model": {"vocab": ');
      return d;
    },
  },
  {
    name: 'config.json an array',
    file: /config\.json must hold a JSON object/,
    make: () => {
      const d = checkpoint();
      writeFileSync(join(d, 'config.json'), '[1, 2]');
      return d;
    },
  },
];

describe('bad checkpoints through the CLI', () => {
  for (const b of bad) {
    it(`${b.name}: serve exits non-zero at once, naming the file, without a stack trace`, async () => {
      const dir = b.make();
      const r = await cli(['serve', '--model', dir, '--http-port', '0', '--grpc-port=-1', '--log-level', 'warn']);
      assert.notEqual(r.code, null, `serve hung on a bad checkpoint:\n${r.stderr}`);
      assert.notEqual(r.code, 0, r.stderr);
      assert.match(r.stderr, b.file);
      assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
      assert.doesNotMatch(r.stderr, /TypeError|RangeError|Node\.js v/);
    });
  }
  for (const b of [bad[1]!, bad[2]!, bad[3]!]) {
    it(`${b.name}: generate exits non-zero at once, naming the file`, async () => {
      const r = await cli(['generate', '--model', b.make(), '--prompt', 'hi', '--max-tokens', '2']);
      assert.notEqual(r.code, null, `generate hung on a bad checkpoint:\n${r.stderr}`);
      assert.notEqual(r.code, 0, r.stderr);
      assert.match(r.stderr, b.file);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
    });
  }
});
