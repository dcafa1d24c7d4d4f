/**
 * Typed server configuration from (lowest to highest precedence) defaults, a JSON config file,
 * SKIPSERVE_* environment variables and command-line flags. Checked once at boot with zod; a bad
 * value fails startup with a message naming the flag and its environment variable.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

const port = z.coerce.number().int().min(0).max(65535);

export const ServerConfigSchema = z.object({
  /** Checkpoint directory. */
  model: z.string().min(1).default('models/default'),
  /** Model id reported by the API (default: the directory's basename). */
  modelId: z.string().min(1).optional(),
  host: z.string().min(1).default('127.0.0.1'),
  httpPort: port.default(8000),
  /** gRPC port; -1 disables the gRPC server. */
  grpcPort: z.coerce.number().int().min(-1).max(65535).default(50051),
  /** Most rows (candidates) decoded together in one step; also the largest n. */
  maxBatch: z.coerce.number().int().min(1).max(256).default(16),
  /** Most requests waiting for admission; past it requests get 429 / RESOURCE_EXHAUSTED. */
  maxQueue: z.coerce.number().int().min(0).max(100000).default(64),
  /** onnxruntime intra-op threads (0 = runtime default). */
  threads: z.coerce.number().int().min(0).max(256).default(0),
  /** When set, every route but health/ready/metrics needs `Authorization: Bearer <key>`. */
  apiKey: z.string().min(1).optional(),
  /** Most prompt tokens fed to the model per engine step (chunked prefill keeps decode steps flowing). */
  prefillChunk: z.coerce.number().int().min(1).default(512),
  /** Policy for requests that name none (and have no A/B arm). */
  defaultPolicy: z.string().min(1).default('none'),
  /** max_tokens when the request gives none (capped by the context). */
  defaultMaxTokens: z.coerce.number().int().min(1).default(256),
  /** random-heads: heads masked per candidate when the request gives no k. */
  defaultK: z.coerce.number().int().min(0).default(2),
  /** Seconds to wait for in-flight requests on SIGTERM before exiting anyway. */
  drainTimeout: z.coerce.number().min(0).default(60),
  /** Batch sizes of the startup dense-step profile (speedup metric); empty disables it. */
  profileBatches: z
    .union([z.string(), z.array(z.number())])
    .transform((v) => (typeof v === 'string' ? v.split(',').filter(Boolean).map(Number) : v))
    .pipe(z.array(z.number().int().min(1)))
    .default([1, 2, 4, 8]),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
}).strict();

export type ServerConfig = z.infer<typeof ServerConfigSchema>;

/** Flag name (kebab-case) -> config key; the env var is SKIPSERVE_<FLAG_IN_UPPER_SNAKE>. */
const FLAGS: Record<string, keyof ServerConfig> = {
  model: 'model',
  'model-id': 'modelId',
  host: 'host',
  'http-port': 'httpPort',
  'grpc-port': 'grpcPort',
  'max-batch': 'maxBatch',
  'max-queue': 'maxQueue',
  threads: 'threads',
  'api-key': 'apiKey',
  'prefill-chunk': 'prefillChunk',
  'default-policy': 'defaultPolicy',
  'default-max-tokens': 'defaultMaxTokens',
  'default-k': 'defaultK',
  'drain-timeout': 'drainTimeout',
  'profile-batches': 'profileBatches',
  'log-level': 'logLevel',
};

/** Env var name for a flag, e.g. `http-port` -> `SKIPSERVE_HTTP_PORT`. */
export function envName(flag: string): string {
  return `SKIPSERVE_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Help text listing every flag with its env var and default. */
export function configHelp(): string {
  const defaults = ServerConfigSchema.parse({});
  const lines = Object.entries(FLAGS).map(([flag, key]) => {
    const d = (defaults as Record<string, unknown>)[key];
    return `  --${flag.padEnd(20)} ${envName(flag).padEnd(30)} ${d === undefined ? '' : `default ${JSON.stringify(d)}`}`;
  });
  return `options (flag, env var, default):\n  --config FILE          SKIPSERVE_CONFIG               JSON file with the same keys (camelCase)\n${lines.join('\n')}\n`;
}

/** Builds the configuration from argv, env and an optional config file; throws ConfigError naming the bad setting. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const options: Record<string, { type: 'string' }> = { config: { type: 'string' } };
  for (const flag of Object.keys(FLAGS)) options[flag] = { type: 'string' };
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
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
  }
  for (const [flag, key] of Object.entries(FLAGS)) {
    const fromEnv = env[envName(flag)];
    if (fromEnv !== undefined && fromEnv !== '') raw[key] = fromEnv;
    if (values[flag] !== undefined) raw[key] = values[flag];
  }
  const parsed = ServerConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') throw new ConfigError(`unknown config key '${issue.keys[0]}' in ${file ?? 'the config'} (known: ${Object.values(FLAGS).join(', ')})`, issue.keys[0]);
    const key = String(issue.path[0] ?? '');
    const flag = Object.entries(FLAGS).find(([, k]) => k === key)?.[0] ?? key;
    throw new ConfigError(`invalid --${flag} (${envName(flag)}): ${issue.message}`, flag);
  }
  return parsed.data;
}
