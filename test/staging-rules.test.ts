/**
 * Alert rules: `promtool check rules` (syntax, PromQL) and `promtool test rules` (each alert fires on
 * a degraded series and stays silent on a healthy one). promtool comes from Debian's `prometheus`
 * package, which .ci/run installs.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { test } from 'node:test';

const DIR = join(import.meta.dirname, '..', 'deploy', 'prometheus');

function promtool(...args: string[]): string {
  try {
    return execFileSync('promtool', args, { cwd: DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('promtool not found: install Debian package `prometheus` (.ci/run does)');
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

test('promtool check rules accepts the alert rules', () => {
  const out = promtool('check', 'rules', 'skipserve-rules.yaml');
  assert.match(out, /SUCCESS: 8 rules found/);
});

test('promtool test rules: every alert fires on its degraded series only', () => {
  const out = promtool('test', 'rules', 'skipserve-rules.test.yaml');
  assert.match(out, /SUCCESS/);
});

// promtool compares the exact alert list, so each firing case also proves the healthy series beside it stay silent.
test('every alert has a firing case in the promtool unit tests', async () => {
  const { readFileSync } = await import('node:fs');
  const YAML = (await import('yaml')).default;
  const rules = YAML.parse(readFileSync(join(DIR, 'skipserve-rules.yaml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string }> }> };
  const tests = YAML.parse(readFileSync(join(DIR, 'skipserve-rules.test.yaml'), 'utf8')) as {
    tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
  };
  const cases = tests.tests.flatMap((t) => t.alert_rule_test);
  for (const { alert } of rules.groups.flatMap((g) => g.rules)) {
    assert.ok(cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0), `${alert}: no case where it fires`);
  }
});
