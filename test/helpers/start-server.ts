/**
 * Starts a real skipserve (real runtime in its worker, real HTTP and gRPC servers on loopback,
 * free ports) over a random-weight checkpoint, for the end-to-end API tests.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ServerConfigSchema, type ServerConfig } from '../../src/config.ts';
import { startServer, type RunningServer } from '../../src/api/server.ts';
import { makeCheckpoint, type MakeCheckpointOptions } from '../../testkit/make-checkpoint.ts';
import type { Logger } from 'pino';

const created = new Set<string>();

/** A small random-weight Llama (2 layers, 4 heads, byte-level tokenizer with a chat template). */
export function testCheckpoint(o: MakeCheckpointOptions = {}): string {
  const key = JSON.stringify(o).replace(/[^a-z0-9]/gi, '');
  const dir = join(tmpdir(), `skipserve-api-ckpt-${process.pid}-${key}`);
  if (!existsSync(join(dir, 'config.json'))) {
    if (created.size === 0) process.once('exit', () => created.forEach((d) => rmSync(d, { recursive: true, force: true })));
    created.add(dir);
    makeCheckpoint({ dir, layers: 2, hidden: 32, heads: 4, kvHeads: 2, maxPositions: 256, seed: 5, ...o });
  }
  return dir;
}

export interface TestServer extends RunningServer {
  http: string;
}

/** Starts the server; `config` overrides the test defaults (quiet logs, free ports, small profile, no store, a temp version cache). */
export async function startTestServer(config: Partial<ServerConfig> = {}, ckpt: MakeCheckpointOptions = {}, log?: Logger): Promise<TestServer> {
  const cfg = ServerConfigSchema.parse({ model: testCheckpoint(ckpt), host: '127.0.0.1', httpPort: 0, grpcPort: 0, maxBatch: 8, logLevel: 'silent', threads: 1, prefillChunk: 16, store: 'off', versionCacheDir: join(tmpdir(), `skipserve-test-versions-${process.pid}`), ...config });
  const s = await startServer(cfg, log);
  return Object.assign(s, { http: `http://127.0.0.1:${s.httpPort}` });
}

/** Reads one series' value from a /metrics text (undefined when absent). */
export function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The sum of a metric's series in a server's registry whose labels take one of the given values each (e.g. `{ outcome: ['deadline'] }`). */
export async function metricSum(s: RunningServer, name: string, labels: Record<string, readonly string[]> = {}): Promise<number> {
  const m = await s.ctx.model.metrics.registry.getSingleMetric(name)!.get();
  return m.values.filter((v) => Object.entries(labels).every(([k, vals]) => vals.includes(String(v.labels[k])))).reduce((sum, v) => sum + v.value, 0);
}

/** Polls until `cond` holds (or fails after `ms`). */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Reads a response body stream to its end, as text. */
export async function readToEnd(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    text += decoder.decode(value, { stream: true });
  }
}
