/**
 * The load driver: the k6 scenarios without k6, for CI and machines where k6 cannot be installed.
 *   npm run load -- --scenario policies [--base-url URL] [--requests N] [--duration S] [--concurrency C]
 * Prints the per-arm summary table, writes it as JSON (--out), exits 1 when a threshold fails
 * (any 5xx, an arm without traffic, error rate, p95, an arm's minSpeedup, a caller switching arms).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_ARMS } from '../shared/arms.ts';
import { loadConfig, type LoadConfig } from '../shared/config.ts';
import { SCENARIOS, scenarioNamed } from '../shared/scenarios.ts';
import { grpcClient, grpcSender } from './grpc-transport.ts';
import { httpSender } from './http-transport.ts';
import { runLoad } from './runner.ts';
import { formatSummary, summarize, type Summary } from './summary.ts';
import { fetchTarget } from './target.ts';

/** Flag -> the environment name the shared config (and the k6 scripts) read. */
const FLAG_ENV: Record<string, string> = {
  'base-url': 'BASE_URL',
  'grpc-addr': 'GRPC_ADDR',
  'api-key': 'API_KEY',
  model: 'MODEL',
  tier: 'TIER',
  n: 'N',
  'max-tokens': 'MAX_TOKENS',
  temperature: 'TEMPERATURE',
  seed: 'SEED',
  duration: 'DURATION',
  concurrency: 'VUS',
  callers: 'CALLERS',
  'p95-ms': 'P95_MS',
  'max-error-rate': 'MAX_ERROR_RATE',
  arms: 'ARMS',
  'ab-arms': 'AB_ARMS',
};

const USAGE = `usage: npm run load -- --scenario NAME [options]

scenarios:
${Object.values(SCENARIOS)
  .map((s) => `  ${s.name.padEnd(12)} ${s.description}`)
  .join('\n')}

options (flag, or the k6 environment variable of the same meaning):
  --base-url URL        BASE_URL        default http://127.0.0.1:8000
  --grpc-addr HOST:PORT GRPC_ADDR       default 127.0.0.1:50051
  --tier standard|hard  TIER            prompt set (default standard; hard: hard-tier test problems, MAX_TOKENS 360)
  --requests N                          most requests to send (default 200)
  --duration S          DURATION        seconds before no new request starts (default 60)
  --grace S                             seconds in-flight requests may overrun (default 60)
  --concurrency C       VUS             concurrent requests (default 4)
  --arms LIST|JSON|available  ARMS      policy arms (default: ${DEFAULT_ARMS.map((a) => a.name).join(',')});
                                        'available' = the defaults the server reports usable
  --ab-arms JSON|@FILE  AB_ARMS         the server's A/B arms file, for --scenario ab
  --n N, --max-tokens N, --temperature T, --seed S, --callers N, --api-key K, --model ID
  --p95-ms MS, --max-error-rate R       thresholds
  --out FILE                            JSON summary (default load-tests/out/SCENARIO-TIMESTAMP.json)
  --quiet                               no progress dots
`;

function parse(argv: string[]) {
  const options: Record<string, { type: 'string' | 'boolean' }> = { scenario: { type: 'string' }, requests: { type: 'string' }, grace: { type: 'string' }, out: { type: 'string' }, quiet: { type: 'boolean' }, help: { type: 'boolean' } };
  for (const flag of Object.keys(FLAG_ENV)) options[flag] = { type: 'string' };
  return parseArgs({ args: argv, options, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
}

function positiveInt(v: string | boolean | undefined, flag: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag}='${v}' must be an integer >= 1`);
  return n;
}

/** Runs one scenario from CLI arguments; returns the summary (and writes the JSON file). */
export async function runCli(argv: string[], log: (s: string) => void = (s) => process.stdout.write(s)): Promise<Summary | null> {
  const v = parse(argv);
  if (v.help || !v.scenario) {
    log(USAGE);
    if (!v.help) throw new Error('--scenario is required');
    return null;
  }
  const scenario = scenarioNamed(String(v.scenario));
  const env: Record<string, string | undefined> = { ...process.env };
  for (const [flag, name] of Object.entries(FLAG_ENV)) if (typeof v[flag] === 'string') env[name] = v[flag] as string;
  if (env.AB_ARMS?.startsWith('@')) env.AB_ARMS = readFileSync(env.AB_ARMS.slice(1), 'utf8');
  const onlyAvailable = env.ARMS === 'available';
  if (onlyAvailable) delete env.ARMS;
  const base = loadConfig(env);
  const requests = positiveInt(v.requests, 'requests', 200);
  const graceS = positiveInt(v.grace, 'grace', 60);
  const target = await fetchTarget(base);
  const cfg: LoadConfig = { ...base, model: target.model };
  const unavailable = new Map(target.policies.filter((p) => !p.available).map((p) => [p.name, p.reason ?? 'unavailable']));
  if (scenario.arms !== 'sticky') {
    const dropped = cfg.arms.filter((a) => unavailable.has(a.policy));
    if (dropped.length && !onlyAvailable) {
      throw new Error(`arms ${dropped.map((a) => `'${a.name}' (${unavailable.get(a.policy)})`).join(', ')} use unavailable policies: pass --arms without them, or --arms available`);
    }
    cfg.arms = cfg.arms.filter((a) => !unavailable.has(a.policy));
    if (dropped.length) log(`skipping unavailable arms: ${dropped.map((a) => a.name).join(', ')}\n`);
    if (!cfg.arms.length) throw new Error('no arm left to load');
  }
  const client = scenario.transport === 'grpc' ? grpcClient(cfg) : null;
  const send = client ? grpcSender(cfg, client, scenario.stream) : httpSender(cfg, scenario.stream);
  log(`${scenario.name}: ${scenario.description}\ntarget ${scenario.transport === 'grpc' ? cfg.grpcAddr : cfg.baseUrl} model ${cfg.model}, n=${cfg.n}, max_tokens=${cfg.maxTokens}, concurrency ${cfg.vus}, at most ${requests} requests / ${cfg.duration} s\n`);
  let count = 0;
  const run = await runLoad({
    cfg,
    scenario,
    send,
    requests,
    durationS: cfg.duration,
    concurrency: cfg.vus,
    graceS,
    onSample: (s) => {
      count += 1;
      if (!v.quiet) log(s.ok ? '.' : s.serverError ? 'E' : 'x');
      if (!v.quiet && count % 50 === 0) log(` ${count}\n`);
    },
  });
  client?.close();
  if (!v.quiet) log('\n');
  const summary = summarize(cfg, scenario, run.samples, run.wallS, run.iterations);
  log(`${formatSummary(summary)}\n`);
  const out = typeof v.out === 'string' ? v.out : join(import.meta.dirname, '..', 'out', `${scenario.name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  const { apiKey: _hidden, ...shownCfg } = cfg;
  writeFileSync(out, `${JSON.stringify({ config: { ...shownCfg, requests, graceS }, ...summary }, null, 2)}\n`);
  log(`summary written to ${out}\n`);
  return summary;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  runCli(process.argv.slice(2)).then(
    (s) => {
      process.exitCode = s && !s.passed ? 1 : 0;
    },
    (err: unknown) => {
      process.stderr.write(`load: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 2;
    },
  );
}
