/**
 * Load-run configuration from environment-style variables, shared by the k6 scripts (`__ENV`) and
 * the Node driver (flags mapped onto the same names). Plain parsing: no Node or k6 APIs here.
 */
import { DEFAULT_ARMS, parseArms, parseServerArms, SERVER_AB_ARMS, type LoadArm, type ServerArm } from './arms.ts';
import type { PromptTier } from './prompts.ts';

/** Everything a scenario needs to know about the target and the load shape. */
export interface LoadConfig {
  /** HTTP base URL of the server, without a trailing slash. */
  baseUrl: string;
  /** gRPC host:port. */
  grpcAddr: string;
  /** Bearer token when the server runs with --api-key. */
  apiKey: string;
  /** Model id to request; empty means "ask GET /v1/models". */
  model: string;
  /** Prompt set: the standard tier or the hard tier (TIER). */
  tier: PromptTier;
  /** Candidates per request (best-of-N). */
  n: number;
  maxTokens: number;
  temperature: number;
  /** Base seed; iteration i uses seed + i so every arm sees the same sampling seed per prompt. */
  seed: number;
  /** k6: iterations started per second (constant-arrival-rate). */
  rate: number;
  /** Seconds the load runs. */
  duration: number;
  /** Concurrent virtual users (k6 pre-allocated VUs; driver concurrency). */
  vus: number;
  /** k6: the most VUs the arrival-rate executor may add. */
  maxVus: number;
  /** Distinct callers (x-skipserve-key values) in the `ab` scenario. */
  callers: number;
  /** Threshold: p95 request latency in milliseconds. */
  p95Ms: number;
  /** Threshold: allowed failed-request rate per arm (0..1). */
  maxErrorRate: number;
  arms: LoadArm[];
  /** The server's A/B arms the `ab` scenario expects (AB_ARMS: the arms-file JSON). */
  abArms: ServerArm[];
}

type Env = Record<string, string | undefined>;

function num(env: Env, key: string, fallback: number, min: number, integer: boolean): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) {
    throw new Error(`${key}='${raw}' must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
  }
  return v;
}

function url(env: Env, key: string, fallback: string): string {
  const raw = env[key] || fallback;
  if (!/^https?:\/\/[^/\s]+/.test(raw)) throw new Error(`${key}='${raw}' must be an http(s) URL`);
  return raw.replace(/\/+$/, '');
}

/** Reads a LoadConfig from variables such as BASE_URL, GRPC_ADDR, TIER, N, RATE, DURATION, ARMS. */
export function loadConfig(env: Env): LoadConfig {
  const grpcAddr = env.GRPC_ADDR || '127.0.0.1:50051';
  if (!/^[^\s:/]+:\d+$/.test(grpcAddr)) throw new Error(`GRPC_ADDR='${grpcAddr}' must be host:port`);
  const tier = (env.TIER || 'standard') as PromptTier;
  if (tier !== 'standard' && tier !== 'hard') throw new Error(`TIER='${env.TIER}' must be standard or hard`);
  return {
    baseUrl: url(env, 'BASE_URL', 'http://127.0.0.1:8000'),
    grpcAddr,
    apiKey: env.API_KEY ?? '',
    model: env.MODEL ?? '',
    tier,
    n: num(env, 'N', 4, 1, true),
    maxTokens: num(env, 'MAX_TOKENS', tier === 'hard' ? 360 : 40, 1, true),
    temperature: num(env, 'TEMPERATURE', 0.8, 0, false),
    seed: num(env, 'SEED', 1234, 0, true),
    rate: num(env, 'RATE', 1, 0.01, false),
    duration: num(env, 'DURATION', 60, 1, false),
    vus: num(env, 'VUS', 4, 1, true),
    maxVus: num(env, 'MAX_VUS', 16, 1, true),
    callers: num(env, 'CALLERS', 8, 1, true),
    p95Ms: num(env, 'P95_MS', 60000, 1, false),
    maxErrorRate: num(env, 'MAX_ERROR_RATE', 0.01, 0, false),
    arms: env.ARMS ? parseArms(env.ARMS) : DEFAULT_ARMS.map((a) => ({ ...a })),
    abArms: env.AB_ARMS ? parseServerArms(env.AB_ARMS).arms : SERVER_AB_ARMS.arms.map((a) => ({ ...a })),
  };
}

/** Request headers for HTTP calls (JSON body, optional bearer token, optional caller key). */
export function httpHeaders(cfg: LoadConfig, callerKey?: string): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json' };
  if (cfg.apiKey) h.authorization = `Bearer ${cfg.apiKey}`;
  if (callerKey) h['x-skipserve-key'] = callerKey;
  return h;
}
