/**
 * Staging checks against the real server on loopback (default model when present):
 * 1. a CI smoke of every load scenario through the Node driver (`npm run load`): exit 0, the summary
 *    table printed, zero 5xx, every policy arm with traffic, sticky A/B arms;
 * 2. the driver fails when an arm gets no traffic (the check can fail);
 * 3. every metric the Grafana dashboard, the alert rules, the HPA and the prometheus-adapter rule
 *    query is exported by the live /metrics, with the labels and label values they use.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { OUTCOMES } from '../src/metrics/metrics.ts';
import { FINISH_REASONS } from '../src/engine/types.ts';
import { DEFAULT_ARMS, POLICY_NAMES } from '../load-tests/shared/arms.ts';
import { SCENARIOS } from '../load-tests/shared/scenarios.ts';
import type { Summary } from '../load-tests/driver/summary.ts';
import { startStagingServer, type StagingServer } from './helpers/staging-server.ts';

const ROOT = join(import.meta.dirname, '..');
const AB_ARMS = { arms: [{ name: 'treat', policy: 'random-heads', weight: 50, k: 2 }, { name: 'control', policy: 'none', weight: 50 }] };
const OUT = mkdtempSync(join(tmpdir(), 'skipserve-load-'));

let server: StagingServer;
/** The default arms the server can serve, without speedup thresholds (a 2-request smoke on a shared CPU measures no speedup). */
let smokeArms = '';

before(async () => {
  server = await startStagingServer(AB_ARMS);
  const models = (await (await fetch(`${server.baseUrl}/v1/models`)).json()) as { data: Array<{ skip_policies: Array<{ name: string; available: boolean }> }> };
  const usable = new Set(models.data[0]!.skip_policies.filter((p) => p.available).map((p) => p.name));
  smokeArms = JSON.stringify(DEFAULT_ARMS.filter((a) => usable.has(a.policy)).map(({ minSpeedup: _drop, ...a }) => a));
});
after(async () => {
  await server?.stop();
});

/** Runs the driver CLI (what `npm run load --` runs); resolves with its exit code, output and JSON summary. */
function load(args: string[]): Promise<{ code: number; out: string; summary: (Summary & { config: Record<string, unknown> }) | null }> {
  const out = join(OUT, `${args[1]}-${Math.random().toString(36).slice(2)}.json`);
  const argv = ['--import', 'tsx', join(ROOT, 'load-tests/driver/main.ts'), ...args, '--base-url', server.baseUrl, '--grpc-addr', server.grpcAddr, '--out', out, '--quiet'];
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { cwd: ROOT, timeout: 240_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      let summary = null;
      try {
        summary = JSON.parse(readFileSync(out, 'utf8'));
      } catch {
        // no JSON written (startup error): reported through code/out
      }
      resolve({ code, out: stdout + stderr, summary });
    });
  });
}

const SMOKE = ['--requests', '12', '--duration', '60', '--concurrency', '3', '--n', '2', '--max-tokens', '8'];

describe('load smoke: every scenario through the Node driver against the real server', () => {
  for (const name of Object.keys(SCENARIOS)) {
    test(name, async () => {
      const extra = name === 'ab' ? ['--ab-arms', JSON.stringify(AB_ARMS), '--callers', '3'] : ['--arms', smokeArms];
      const r = await load(['--scenario', name, ...SMOKE, ...extra]);
      assert.equal(r.code, 0, `driver exited ${r.code}:\n${r.out}\n--- server log ---\n${server.log().slice(-3000)}`);
      assert.match(r.out, /arm\s+reqs\s+req\/s\s+err%\s+5xx\s+p50 ms\s+p95 ms\s+p99 ms\s+p50 vs none\s+TTFT p50/);
      assert.match(r.out, /PASSED/);
      const s = r.summary!;
      assert.equal(s.total.serverErrors, 0);
      assert.ok(s.arms.length >= 2, 'at least two arms');
      for (const arm of s.arms) assert.ok(arm.ok > 0, `arm ${arm.arm} got no successful traffic`);
      if (SCENARIOS[name]!.stream) assert.ok(s.total.ttft.p50 !== null && s.total.interTokenLatency.p50 !== null, 'stream without TTFT/ITL');
      if (name === 'ab') {
        assert.deepEqual(s.arms.map((a) => a.arm).sort(), ['control', 'treat']);
        assert.deepEqual(s.stickyViolations, []);
        assert.ok(s.repeatedCallers > 0);
      }
      if (name === 'policies') assert.equal(new Set(s.arms.map((a) => a.requests)).size, 1, 'paired: every arm gets the same prompts');
    });
  }

  test('the driver fails (exit 1) when an expected arm gets no traffic', async () => {
    const ghost = { arms: [...AB_ARMS.arms, { name: 'ghost', policy: 'none', weight: 1 }] };
    const r = await load(['--scenario', 'ab', '--requests', '4', '--duration', '30', '--n', '2', '--max-tokens', '4', '--ab-arms', JSON.stringify(ghost)]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /FAIL skip_requests\{arm:ghost\} count>0/);
    assert.equal(r.summary!.passed, false);
  });
});

/** Metric families and the label names seen on their samples, from the Prometheus text format. */
function parseExposition(text: string): Map<string, Set<string>> {
  const names = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)/.exec(line);
    if (t) {
      const suffixes = t[2] === 'histogram' ? ['_bucket', '_sum', '_count'] : t[2] === 'summary' ? ['', '_sum', '_count'] : [''];
      for (const s of suffixes) names.set(t[1] + s, names.get(t[1] + s) ?? new Set());
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s/.exec(line);
    if (m && names.has(m[1]!)) for (const [, label] of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="/g)) names.get(m[1]!)!.add(label!);
  }
  return names;
}

const KEYWORDS = new Set(['by', 'without', 'and', 'or', 'unless', 'on', 'ignoring', 'bool', 'offset', 'group_left', 'group_right', 'inf', 'nan']);
/** Labels Prometheus attaches from the scrape target, not the server. */
const TARGET_LABELS = new Set(['namespace', 'pod', 'job', 'instance', 'service', 'container', 'endpoint']);

/** Metric selectors in a PromQL expression: name and label matchers (`label`, `op`, `value`). */
function selectors(expr: string): Array<{ metric: string; matchers: Array<[string, string, string]> }> {
  const e = expr.replace(/label_values\(([^,()]+(?:\{[^}]*\})?),\s*\w+\)/g, '$1').replace(/\$\{?\w+\}?/g, 'VAR');
  const out: Array<{ metric: string; matchers: Array<[string, string, string]> }> = [];
  const re = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?(\s*\()?/g;
  const cleaned = e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ').replace(/\[[^\]]*\]/g, ' ');
  for (const m of cleaned.matchAll(re)) {
    const [, name, braces, call] = m;
    if (call || KEYWORDS.has(name!) || /^\d/.test(name!)) continue;
    const before = cleaned.slice(0, m.index);
    const insideString = (before.match(/"/g) ?? []).length % 2 === 1;
    if (/[{,]\s*$/.test(before) || insideString) continue; // a label name or inside a string
    const matchers = [...(braces ?? '').matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)].map((x) => [x[1]!, x[2]!, x[3]!] as [string, string, string]);
    out.push({ metric: name!, matchers });
  }
  return out;
}

describe('queries name only what the live server exports', () => {
  const exprs: Array<{ where: string; expr: string }> = [];
  const dash = JSON.parse(readFileSync(join(ROOT, 'deploy/kubernetes/base/grafana/skipserve-dashboard.json'), 'utf8'));
  for (const p of dash.panels) for (const t of p.targets ?? []) exprs.push({ where: `dashboard '${p.title}'`, expr: t.expr });
  for (const v of dash.templating.list) if (v.type === 'query') exprs.push({ where: `dashboard variable ${v.name}`, expr: v.query.query });
  const rules = YAML.parse(readFileSync(join(ROOT, 'deploy/prometheus/skipserve-rules.yaml'), 'utf8'));
  for (const g of rules.groups) for (const r of g.rules) exprs.push({ where: `alert ${r.alert}`, expr: r.expr });
  const adapter = YAML.parse(readFileSync(join(ROOT, 'deploy/prometheus/adapter-values.yaml'), 'utf8'));
  for (const r of adapter.rules.custom) exprs.push({ where: 'prometheus-adapter seriesQuery', expr: r.seriesQuery });
  const hpa = YAML.parse(readFileSync(join(ROOT, 'deploy/kubernetes/base/hpa.yaml'), 'utf8'));
  for (const m of hpa.spec.metrics) if (m.type === 'Pods') exprs.push({ where: 'HPA pods metric', expr: m.pods.metric.name });

  test('the selector parser finds the metrics in a query (it can fail)', () => {
    const s = selectors('sum by (policy) (rate(skipserve_x_sum{namespace=~"$namespace",outcome="error"}[5m])) / on(pod) up');
    assert.deepEqual(s.map((x) => x.metric), ['skipserve_x_sum', 'up']);
    assert.deepEqual(s[0]!.matchers[1], ['outcome', '=', 'error']);
  });

  test('every metric, label and label value the dashboard, alerts, HPA and adapter use is exported', async () => {
    // Traffic of the smoke above has populated the per-policy series.
    const res = await fetch(`${server.baseUrl}/metrics`);
    assert.equal(res.status, 200);
    const live = parseExposition(await res.text());
    assert.ok(live.has('skipserve_requests_total'), 'server exports no skipserve metrics');
    let checked = 0;
    for (const { where, expr } of exprs) {
      for (const { metric, matchers } of selectors(expr)) {
        if (metric === 'up') continue; // written by Prometheus itself
        assert.ok(live.has(metric), `${where}: ${metric} is not exported by the server`);
        checked += 1;
        for (const [label, op, value] of matchers) {
          if (TARGET_LABELS.has(label)) continue;
          assert.ok(live.get(metric)!.has(label), `${where}: ${metric} has no label '${label}'`);
          if (value.includes('VAR')) continue;
          const allowed: readonly string[] = label === 'policy' ? POLICY_NAMES : label === 'outcome' ? OUTCOMES : label === 'finish_reason' ? FINISH_REASONS : [];
          const values = op.includes('~') ? value.split('|') : [value];
          for (const v of values) assert.ok(allowed.includes(v), `${where}: ${label}${op}"${value}" names '${v}', not one of ${allowed.join(', ')}`);
        }
      }
    }
    assert.ok(checked >= 40, `only ${checked} selectors checked`);
  });
});
