/**
 * Typed server configuration from (lowest to highest precedence) defaults, a JSON config file,
 * SKIPSERVE_* environment variables and command-line flags. Every setting is declared once here,
 * with its flag, env var, default and help line; `serve --help` prints them all. Checked once at
 * boot with zod; a bad value fails startup with a message naming the flag and its environment variable.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { REASONING_PARSERS } from './engine/reasoning-parsers.ts';
import { TOOL_PARSERS } from './engine/tool-parsers.ts';
import { ConfigError } from './errors.ts';

const port = z.coerce.number().int().min(0).max(65535);
const flag = z.preprocess((v) => (typeof v === 'string' ? ['1', 'true', 'yes', 'on'].includes(v.toLowerCase()) : v), z.boolean());
/** A comma-separated string (flag, env) or a JSON array (config file). */
const commaList = z
  .union([z.string(), z.array(z.union([z.number(), z.string()]))])
  .transform((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v.map(String)));

/** Every setting, once: its flag (kebab-case; the env var is SKIPSERVE_<FLAG_IN_UPPER_SNAKE>), its schema and default, what it does. */
const SETTINGS = {
  model: { flag: 'model', schema: z.string().min(1).default('models/default'), help: 'checkpoint directory (Hugging Face Llama/Qwen2/Mistral)' },
  modelId: { flag: 'model-id', schema: z.string().min(1).optional(), help: "model id the API reports (default: the directory's name)" },
  host: { flag: 'host', schema: z.string().min(1).default('127.0.0.1'), help: 'address to listen on' },
  httpPort: { flag: 'http-port', schema: port.default(8000), help: 'HTTP port (0 = any free port)' },
  grpcPort: { flag: 'grpc-port', schema: z.coerce.number().int().min(-1).max(65535).default(50051), help: 'gRPC port (0 = any free port, -1 = no gRPC: write --grpc-port=-1)' },
  toolCallParser: { flag: 'tool-call-parser', schema: z.enum(TOOL_PARSERS).optional(), help: "the model's own tool-call format, which tool_choice 'auto' (the default when tools are given) reads the calls back in: hermes | mistral | llama3_json | json (as vLLM's --tool-call-parser; unset: 'auto' is refused)" },
  reasoningParser: { flag: 'reasoning-parser', schema: z.enum(REASONING_PARSERS).optional(), help: "split a reasoning model's chat answers into reasoning_content (its <think> part) and content: deepseek_r1 | qwen3 (as vLLM's --reasoning-parser; unset: all content)" },
  servedModelName: { flag: 'served-model-name', schema: commaList.pipe(z.array(z.string().min(1)).min(1)).optional(), help: "names the API answers to (comma-separated), as vLLM's flag: the first is the id responses report, any is accepted as `model` (instead of --model-id)" },
  maxModelLen: { flag: 'max-model-len', schema: z.coerce.number().int().min(2).optional(), help: "longest sequence (prompt and completion) a request may reach, as vLLM's flag: at most the model's context (default: the model's context)" },
  maxBatch: { flag: 'max-batch', schema: z.coerce.number().int().min(1).max(256).default(16), help: 'most candidate rows decoded together; also the largest n' },
  maxQueue: { flag: 'max-queue', schema: z.coerce.number().int().min(0).max(100000).default(64), help: 'most requests waiting for admission; past it 429 / RESOURCE_EXHAUSTED' },
  threads: { flag: 'threads', schema: z.coerce.number().int().min(0).max(256).default(0), help: 'onnxruntime intra-op threads (0 = its default)' },
  ortSpin: { flag: 'ort-spin', schema: z.preprocess((v) => (v === '1' ? 'on' : v === '0' ? 'off' : v), z.enum(['auto', 'on', 'off'])).default('auto'), help: "let onnxruntime's threads spin while waiting: on | off | auto (spins only with a CPU to spare on an idle machine)" },
  weights: { flag: 'weights', schema: z.enum(['f32', 'int8']).default('f32'), help: 'weight format: f32, or int8 (weight-only quantization at load, MatMulNBits)' },
  densePath: { flag: 'dense-path', schema: flag.default(true), help: 'a second, switch-free session (keep and head masks only) for steps in which every sublayer runs for some row: full plans and head masks pay no switch tax; costs a second pre-packed copy of the weights in memory' },
  coreGraphs: { flag: 'core-graphs', schema: z.coerce.number().int().min(0).max(64).optional(), help: 'skip cores kept as graphs of their own (0: none; default: as many as fit min(2 GiB, RAM/8) of packed weights, at most 16): a core the whole batch shares gets one after a few steps, so its steps pay no switch tax' },
  warmup: { flag: 'warmup', schema: flag.default(true), help: 'before listening, run dense and default-skip-core decode steps at batch 1, 2, 4, 8 and --max-batch: the first requests pay no first runs or speedup probes' },
  apiKey: { flag: 'api-key', schema: z.string().min(1).optional(), help: 'when set, /v1 and /admin routes and gRPC need Authorization: Bearer <key>' },
  apiKeysFile: { flag: 'api-keys-file', schema: z.string().min(1).optional(), help: 'file of API keys, one per line (# comments); reread when it changes, so keys rotate without a restart' },
  metricsAuth: { flag: 'metrics-auth', schema: flag.default(false), help: 'GET /metrics needs an API key too' },
  allowedOrigins: { flag: 'allowed-origins', schema: commaList.pipe(z.array(z.string().min(1))).default([]), help: "origins browsers may call the HTTP API from (CORS, comma-separated; '*' = any, as vLLM's default); empty = no CORS headers" },
  maxBodyBytes: { flag: 'max-body-bytes', schema: z.coerce.number().int().min(1024).default(1 << 20), help: 'largest HTTP request body (larger: 413)' },
  prefillChunk: { flag: 'prefill-chunk', schema: z.coerce.number().int().min(1).default(512), help: 'most prompt tokens fed per engine step (chunked prefill)' },
  prefixCacheMb: { flag: 'prefix-cache-mb', schema: z.coerce.number().min(0).max(1 << 20).default(256), help: "memory for the prefix cache: prompts' keys and values kept for later prompts that start with the same tokens under the same skip core and shared head masks (0 = off)" },
  speculativeConfig: { flag: 'speculative-config', schema: z.string().trim().min(1).default('auto'), help: "self-speculative decoding (as vLLM's flag) of requests on the full model or on a skip core all their candidates share, greedy or sampled: off | auto (the model directory's speculative.json, else off) | JSON {\"method\": \"skip\", \"draft\": <skip plan>, \"num_speculative_tokens\": k, \"disable_by_batch_size\": B}: the draft plan proposes k tokens, the request's own plans check them in one run (a request arriving beside more than B candidate rows decodes plainly); greedy output is theirs token for token, sampled output is drawn from their distribution" },
  defaultPolicy: { flag: 'default-policy', schema: z.string().min(1).default('none'), help: 'policy of requests that name none (and have no A/B arm)' },
  optionalPolicies: { flag: 'optional-policies', schema: commaList.pipe(z.array(z.string().min(1))).default([]), help: 'policies whose load failure only makes them unavailable (comma-separated)' },
  generationConfig: { flag: 'generation-config', schema: z.enum(['auto', 'none']).default('auto'), help: "sampling defaults (as vLLM's flag): auto = the model's generation_config.json (temperature, top_p, top_k, min_p, repetition_penalty) for the fields a request leaves out | none = OpenAI's defaults (temperature 1, every filter off)" },
  defaultMaxTokens: { flag: 'default-max-tokens', schema: z.coerce.number().int().min(1).default(256), help: 'max_tokens when a request gives none (capped by the context)' },
  defaultK: { flag: 'default-k', schema: z.coerce.number().int().min(0).default(2), help: 'heads masked per candidate by random-heads / head-importance when a request gives no k' },
  defaultTargetSpeedup: { flag: 'default-target-speedup', schema: z.coerce.number().min(1).max(8).default(1.25), help: 'skip core target of latency-budget / expert-profile when a request gives none' },
  warmTargets: { flag: 'warm-targets', schema: commaList.transform((a) => a.map(Number)).pipe(z.array(z.number().min(1).max(8))).default([]), help: 'more skip-core targets (besides --default-target-speedup) whose cores get their graphs built before serving, at each batch-size bucket: requests asking these skip.target_speedup values pay no graph build (comma-separated, e.g. 1.3,1.5; the target_speedup of every arm is added)' },
  coreShareTolerance: { flag: 'core-share-tolerance', schema: z.coerce.number().min(0).max(10).default(0.25), help: 'expert-profile takes a skip core already in flight that reaches its target and costs at most this much more than its own core (measured single-skip accuracy where calibration has it, else importance on its domain; 0: never)' },
  armsFile: { flag: 'arms-file', schema: z.string().min(1).optional(), help: 'JSON file of weighted policy A/B arms' },
  arms: { flag: 'arms', schema: z.string().min(1).optional(), help: 'the same A/B arms as inline JSON' },
  profileCacheDir: { flag: 'profile-cache-dir', schema: z.string().min(1).optional(), help: "writable directory for measured latency profiles (unset: kept in memory; the model's own is only read)" },
  store: { flag: 'store', schema: z.string().trim().min(1).default('.skipserve/store.sqlite'), help: 'where served requests, feedback and versions are kept: a SQLite file path, postgres://user:pass@host/db, or off' },
  storeQueue: { flag: 'store-queue', schema: z.coerce.number().int().min(1).max(1_000_000).default(10_000), help: 'records waiting for the store writer at most; past it a record is dropped (and counted), the request still answered' },
  storeRetentionDays: { flag: 'store-retention-days', schema: z.coerce.number().min(0).default(30), help: 'delete records (and their feedback) older than this many days; 0 keeps them' },
  storeTimeout: { flag: 'store-timeout', schema: z.coerce.number().min(0).max(3600).default(10), help: 'seconds a record lookup or a feedback waits for the store before it answers 503 (0 = waits as long as the store takes)' },
  followVersions: { flag: 'follow-versions', schema: flag.default(true), help: "serve the store's promoted model and selector versions and reload when a promotion changes them (off: --model until POST /admin/reload)" },
  versionPoll: { flag: 'version-poll', schema: z.coerce.number().min(0.05).max(3600).default(2), help: 'seconds between checks for promotions (PostgreSQL also listens, so it learns at once)' },
  versionCacheDir: { flag: 'version-cache-dir', schema: z.string().min(1).default('.skipserve/versions'), help: "writable directory where versions' files from the store are unpacked before loading" },
  stallTimeout: { flag: 'stall-timeout', schema: z.coerce.number().min(0).max(86400).default(120), help: 'seconds a model call may go without an answer from the model worker before it counts as hung: its requests fail with 503 and the model reopens, as after a crash (0 = never)' },
  drainTimeout: { flag: 'drain-timeout', schema: z.coerce.number().min(0).default(60), help: 'seconds SIGTERM waits for in-flight requests' },
  logRequests: { flag: 'log-requests', schema: flag.default(true), help: 'log one line per finished request at info (id, policy, n, tokens, finish reasons, queue / first-token / total ms, speedup; never the prompt or the text), as vLLM logs its requests' },
  logLevel: { flag: 'log-level', schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), help: 'fatal | error | warn | info | debug | trace | silent' },
  debug: { flag: 'debug', schema: flag.default(false), help: 'log stack traces of failures' },
} as const;

type Settings = typeof SETTINGS;
export const ServerConfigSchema = z.object(Object.fromEntries(Object.entries(SETTINGS).map(([k, s]) => [k, s.schema])) as { [K in keyof Settings]: Settings[K]['schema'] }).strict();

export type ServerConfig = z.infer<typeof ServerConfigSchema>;

const FLAGS: [flag: string, key: keyof ServerConfig, help: string][] = Object.entries(SETTINGS).map(([key, s]) => [s.flag, key as keyof ServerConfig, s.help]);

/** Env var name for a flag, e.g. `http-port` -> `SKIPSERVE_HTTP_PORT`. */
export function envName(flag: string): string {
  return `SKIPSERVE_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Help text listing every setting with its flag, env var, default and meaning. */
export function configHelp(): string {
  const defaults = ServerConfigSchema.parse({}) as Record<string, unknown>;
  const lines = FLAGS.map(([f, key, help]) => {
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
  for (const [f] of FLAGS) options[f] = { type: 'string' };
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
  for (const [f, key] of FLAGS) {
    const fromEnv = env[envName(f)];
    if (fromEnv !== undefined && fromEnv !== '') raw[key] = fromEnv;
    if (values[f] !== undefined) raw[key] = values[f];
  }
  const parsed = ServerConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const known = FLAGS.map(([, k]) => k).join(', ');
    if (issue.code === 'unrecognized_keys') throw new ConfigError(`unknown config key '${issue.keys[0]}' in ${file ?? 'the config'} (known: ${known})`, issue.keys[0]);
    const key = String(issue.path[0] ?? '');
    const f = FLAGS.find(([, k]) => k === key)?.[0] ?? key;
    throw new ConfigError(`invalid --${f} (${envName(f)}): ${issue.message}`, f);
  }
  if (parsed.data.arms && parsed.data.armsFile) throw new ConfigError(`give --arms or --arms-file (${envName('arms')} / ${envName('arms-file')}), not both`, 'arms');
  return parsed.data;
}
