/**
 * Typed server configuration from (lowest to highest precedence) defaults, a JSON config file,
 * SKIPSERVE_* environment variables and command-line flags. Every setting is declared once here,
 * with its flag, env var, default and help line; `serve --help` prints them all. Checked once at
 * boot with zod; a bad value fails startup with a message naming the flag and its environment variable.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

const port = z.coerce.number().int().min(0).max(65535);
const flag = z.preprocess((v) => (typeof v === 'string' ? ['1', 'true', 'yes', 'on'].includes(v.toLowerCase()) : v), z.boolean());
/** A comma-separated string (flag, env) or a JSON array (config file). */
const commaList = z
  .union([z.string(), z.array(z.union([z.number(), z.string()]))])
  .transform((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v.map(String)));

export const ServerConfigSchema = z.object({
  model: z.string().min(1).default('models/default'),
  modelId: z.string().min(1).optional(),
  host: z.string().min(1).default('127.0.0.1'),
  httpPort: port.default(8000),
  grpcPort: z.coerce.number().int().min(-1).max(65535).default(50051),
  maxBatch: z.coerce.number().int().min(1).max(256).default(16),
  maxQueue: z.coerce.number().int().min(0).max(100000).default(64),
  threads: z.coerce.number().int().min(0).max(256).default(0),
  ortSpin: z.preprocess((v) => (v === '1' ? 'on' : v === '0' ? 'off' : v), z.enum(['auto', 'on', 'off'])).default('off'),
  apiKey: z.string().min(1).optional(),
  prefillChunk: z.coerce.number().int().min(1).default(512),
  defaultPolicy: z.string().min(1).default('none'),
  optionalPolicies: commaList.pipe(z.array(z.string().min(1))).default([]),
  defaultMaxTokens: z.coerce.number().int().min(1).default(256),
  defaultK: z.coerce.number().int().min(0).default(2),
  defaultTargetSpeedup: z.coerce.number().min(1).max(8).default(1.25),
  armsFile: z.string().min(1).optional(),
  arms: z.string().min(1).optional(),
  profileCacheDir: z.string().min(1).optional(),
  drainTimeout: z.coerce.number().min(0).default(60),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  debug: flag.default(false),
}).strict();

export type ServerConfig = z.infer<typeof ServerConfigSchema>;

/** Every setting: flag (kebab-case) -> config key and what it does; the env var is SKIPSERVE_<FLAG_IN_UPPER_SNAKE>. */
const SETTINGS: Record<string, { key: keyof ServerConfig; help: string }> = {
  model: { key: 'model', help: 'checkpoint directory (Hugging Face Llama/Qwen2/Mistral)' },
  'model-id': { key: 'modelId', help: "model id the API reports (default: the directory's name)" },
  host: { key: 'host', help: 'address to listen on' },
  'http-port': { key: 'httpPort', help: 'HTTP port (0 = any free port)' },
  'grpc-port': { key: 'grpcPort', help: 'gRPC port (0 = any free port, -1 = no gRPC)' },
  'max-batch': { key: 'maxBatch', help: 'most candidate rows decoded together; also the largest n' },
  'max-queue': { key: 'maxQueue', help: 'most requests waiting for admission; past it 429 / RESOURCE_EXHAUSTED' },
  threads: { key: 'threads', help: 'onnxruntime intra-op threads (0 = its default)' },
  'ort-spin': { key: 'ortSpin', help: "let onnxruntime's threads spin while waiting: on | off | auto" },
  'api-key': { key: 'apiKey', help: 'when set, /v1 routes and gRPC need Authorization: Bearer <key>' },
  'prefill-chunk': { key: 'prefillChunk', help: 'most prompt tokens fed per engine step (chunked prefill)' },
  'default-policy': { key: 'defaultPolicy', help: 'policy of requests that name none (and have no A/B arm)' },
  'optional-policies': { key: 'optionalPolicies', help: 'policies whose load failure only makes them unavailable (comma-separated)' },
  'default-max-tokens': { key: 'defaultMaxTokens', help: 'max_tokens when a request gives none (capped by the context)' },
  'default-k': { key: 'defaultK', help: 'heads masked per candidate by random-heads / head-importance when a request gives no k' },
  'default-target-speedup': { key: 'defaultTargetSpeedup', help: 'skip core target of latency-budget / expert-profile when a request gives none' },
  'arms-file': { key: 'armsFile', help: 'JSON file of weighted policy A/B arms' },
  arms: { key: 'arms', help: 'the same A/B arms as inline JSON' },
  'profile-cache-dir': { key: 'profileCacheDir', help: "writable directory for measured latency profiles (unset: kept in memory; the model's own is only read)" },
  'drain-timeout': { key: 'drainTimeout', help: 'seconds SIGTERM waits for in-flight requests' },
  'log-level': { key: 'logLevel', help: 'fatal | error | warn | info | debug | trace | silent' },
  debug: { key: 'debug', help: 'log stack traces of failures' },
};

/** Env var name for a flag, e.g. `http-port` -> `SKIPSERVE_HTTP_PORT`. */
export function envName(flag: string): string {
  return `SKIPSERVE_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Help text listing every setting with its flag, env var, default and meaning. */
export function configHelp(): string {
  const defaults = ServerConfigSchema.parse({}) as Record<string, unknown>;
  const lines = Object.entries(SETTINGS).map(([f, { key, help }]) => {
    const d = defaults[key];
    return `  --${f.padEnd(24)} ${envName(f).padEnd(34)} ${(d === undefined ? '' : JSON.stringify(d)).padEnd(18)} ${help}`;
  });
  return `options (flag, env var, default, meaning):\n  --${'config FILE'.padEnd(24)} ${'SKIPSERVE_CONFIG'.padEnd(34)} ${''.padEnd(18)} JSON file with the same keys (camelCase)\n${lines.join('\n')}\n`;
}

/** The debug setting alone (for CLI commands that take no server config). */
export function debugFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return flag.safeParse(env[envName('debug')] ?? false).data === true;
}

/** Builds the configuration from argv, env and an optional config file; throws ConfigError naming the bad setting. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const options: Record<string, { type: 'string' }> = { config: { type: 'string' } };
  for (const f of Object.keys(SETTINGS)) options[f] = { type: 'string' };
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values as Record<string, string | undefined>;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n${configHelp()}`);
  }
  const raw: Record<string, unknown> = {};
  const file = values.config ?? env.SKIPSERVE_CONFIG;
  if (file) {
    try {
      Object.assign(raw, JSON.parse(readFileSync(file, 'utf8')));
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`, 'config');
    }
  }
  for (const [f, { key }] of Object.entries(SETTINGS)) {
    const fromEnv = env[envName(f)];
    if (fromEnv !== undefined && fromEnv !== '') raw[key] = fromEnv;
    if (values[f] !== undefined) raw[key] = values[f];
  }
  const parsed = ServerConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const known = Object.values(SETTINGS).map((s) => s.key).join(', ');
    if (issue.code === 'unrecognized_keys') throw new ConfigError(`unknown config key '${issue.keys[0]}' in ${file ?? 'the config'} (known: ${known})`, issue.keys[0]);
    const key = String(issue.path[0] ?? '');
    const f = Object.entries(SETTINGS).find(([, s]) => s.key === key)?.[0] ?? key;
    throw new ConfigError(`invalid --${f} (${envName(f)}): ${issue.message}`, f);
  }
  if (parsed.data.arms && parsed.data.armsFile) throw new ConfigError(`give --arms or --arms-file (${envName('arms')} / ${envName('arms-file')}), not both`, 'arms');
  return parsed.data;
}
