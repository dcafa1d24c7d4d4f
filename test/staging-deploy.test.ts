/**
 * Deploy manifests: every YAML parses; the base and both overlays render (our kustomize renderer,
 * cross-checked against `kubectl kustomize` where that binary exists) and validate against the
 * Kubernetes and prometheus-operator schemas; the pieces agree with each other and with the server
 * (config file through the real config loader, arms through the real arms parser, ports, probes,
 * drain time, HPA metric = adapter rule, PrometheusRule = rule file, Dockerfile = README steps).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import YAML from 'yaml';
import { loadConfig } from '../src/config.ts';
import { storeEngine } from '../src/store/open-store.ts';
import { parseArms } from '../src/plans/arms.ts';
import { POLICY_NAMES, SERVER_AB_ARMS } from '../load-tests/shared/arms.ts';
import { readYamlDocs, renderKustomization, type K8sObject } from '../deploy/tools/render-kustomize.ts';

const ROOT = join(import.meta.dirname, '..');
const DEPLOY = join(ROOT, 'deploy');
const OVERLAYS = { base: 'deploy/kubernetes/base', staging: 'deploy/kubernetes/overlays/staging', production: 'deploy/kubernetes/overlays/production' };

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p, ext) : ext.test(name) ? [p] : [];
  });
}

/** Validates one object against its schema: kubernetes-models or @kubernetes-models/prometheus-operator. */
async function validate(obj: K8sObject): Promise<void> {
  const [group, version] = String(obj.apiVersion).includes('/') ? String(obj.apiVersion).split('/') : ['', obj.apiVersion];
  const modulePath =
    group === 'monitoring.coreos.com'
      ? `@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}/${obj.kind}`
      : `kubernetes-models/${group ? `${group}/` : ''}${version}/${obj.kind}`;
  const mod = (await import(modulePath)) as Record<string, new (o: K8sObject) => { validate(): void }>;
  const Model = mod[obj.kind];
  assert.ok(Model, `no schema for ${obj.apiVersion} ${obj.kind}`);
  new Model(obj).validate();
}

const byKind = (objs: K8sObject[], kind: string, name?: string) =>
  objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

describe('deploy manifests', () => {
  test('every YAML file under deploy/ parses', () => {
    const yamls = files(DEPLOY, /\.ya?ml$/);
    assert.ok(yamls.length >= 15, `found only ${yamls.length} YAML files`);
    for (const f of yamls) assert.ok(readYamlDocs(f).length > 0, `${f} has no document`);
    for (const f of files(DEPLOY, /\.json$/)) JSON.parse(readFileSync(f, 'utf8'));
  });

  for (const [name, dir] of Object.entries(OVERLAYS)) {
    test(`${name} renders and every object validates against its schema`, async () => {
      const objs = renderKustomization(join(ROOT, dir));
      const kinds = objs.map((o) => o.kind).sort();
      for (const kind of ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'PrometheusRule', 'Service', 'ServiceAccount', 'ServiceMonitor']) {
        assert.ok(kinds.includes(kind), `${name}: no ${kind}`);
      }
      for (const o of objs) {
        await assert.doesNotReject(validate(o), `${name}: ${o.kind}/${o.metadata.name}`);
        if (name !== 'base') assert.equal(o.metadata.namespace, name === 'staging' ? 'skipserve-staging' : 'skipserve');
      }
      // The Deployment mounts the generated (hashed) config map that exists in the same render.
      const dep = byKind(objs, 'Deployment', 'skipserve')[0]!;
      const cmName = dep.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'config').configMap.name;
      assert.match(cmName, /^skipserve-config-[a-z0-9]{10}$/);
      assert.equal(byKind(objs, 'ConfigMap', cmName).length, 1, `${name}: Deployment mounts ${cmName}, which is not rendered`);
    });
  }

  test('an invalid manifest is rejected by the schema check (the check can fail)', async () => {
    const dep = structuredClone(byKind(renderKustomization(join(ROOT, OVERLAYS.base)), 'Deployment')[0]!);
    dep.spec.template.spec.containers[0].ports[0].containerPort = 'eight thousand';
    await assert.rejects(validate(dep), /containerPort/);
  });

  test('our render equals kubectl kustomize where kubectl is installed', (t) => {
    let kubectl = true;
    try {
      execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    } catch {
      kubectl = false;
    }
    if (!kubectl) return t.skip('kubectl not installed (CI renders with deploy/tools/render-kustomize.ts only)');
    for (const dir of Object.values(OVERLAYS)) {
      const ref = YAML.parseAllDocuments(execFileSync('kubectl', ['kustomize', join(ROOT, dir)], { encoding: 'utf8' })).map((d) => d.toJS());
      const mine = renderKustomization(join(ROOT, dir));
      assert.equal(mine.length, ref.length, dir);
      for (const r of ref) {
        const m = mine.find((o) => o.kind === r.kind && o.metadata.name === r.metadata.name);
        assert.ok(m, `${dir}: ${r.kind}/${r.metadata.name} missing from our render`);
        assert.ok(isDeepStrictEqual(JSON.parse(JSON.stringify(m)), r), `${dir}: ${r.kind}/${r.metadata.name} differs from kubectl kustomize`);
      }
    }
  });
});

describe('deploy pieces agree with each other and with the server', () => {
  const base = renderKustomization(join(ROOT, OVERLAYS.base));
  const dep = byKind(base, 'Deployment', 'skipserve')[0]!;
  const pod = dep.spec.template.spec;
  const container = pod.containers[0];
  const serverJson = JSON.parse(readFileSync(join(DEPLOY, 'kubernetes/base/config/server.json'), 'utf8'));

  test('server.json passes the server config loader; ports match the container and the Service', () => {
    const cfg = loadConfig(['--config', join(DEPLOY, 'kubernetes/base/config/server.json')], {});
    assert.equal(cfg.host, '0.0.0.0');
    const ports = Object.fromEntries(container.ports.map((p: K8sObject) => [p.name, p.containerPort]));
    assert.deepEqual(ports, { http: cfg.httpPort, grpc: cfg.grpcPort });
    const svc = byKind(base, 'Service', 'skipserve')[0]!;
    assert.deepEqual(svc.spec.ports.map((p: K8sObject) => p.targetPort).sort(), ['grpc', 'http']);
    for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(dep.spec.template.metadata.labels[k], v, `Service selector ${k}`);
  });

  test('probes: readiness /ready, liveness /health, startup long enough for model load; graceful drain', () => {
    assert.equal(container.readinessProbe.httpGet.path, '/ready');
    assert.equal(container.livenessProbe.httpGet.path, '/health');
    const startup = container.startupProbe;
    assert.ok(startup.periodSeconds * startup.failureThreshold >= 120, 'startup probe allows under 2 minutes');
    const preStop = Number(container.lifecycle.preStop.exec.command.at(-1));
    assert.ok(pod.terminationGracePeriodSeconds > serverJson.drainTimeout + preStop, 'grace period must cover preStop + drain');
    assert.equal(dep.spec.strategy.rollingUpdate.maxUnavailable, 0);
    assert.ok(container.resources.requests.cpu && container.resources.requests.memory && container.resources.limits.memory);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.ok(container.volumeMounts.some((m: K8sObject) => m.mountPath === '/tmp'), 'tsx needs a writable /tmp');
  });

  test("the request store: SQLite on the pod's writable /tmp in base, PostgreSQL from a Secret in production", () => {
    const file = join(DEPLOY, 'kubernetes/base/config/server.json');
    const cfg = loadConfig(['--config', file], {});
    assert.equal(storeEngine(cfg.store), 'sqlite');
    assert.ok(cfg.store.startsWith('/tmp/') && cfg.versionCacheDir.startsWith('/tmp/'), 'store and version cache on the writable volume');
    const tmp = container.volumeMounts.find((m: K8sObject) => m.mountPath === '/tmp');
    const volume = pod.volumes.find((v: K8sObject) => v.name === tmp.name);
    assert.ok(volume.emptyDir, '/tmp is the pod\'s emptyDir');
    assert.ok(!container.env.some((e: K8sObject) => e.name === 'SKIPSERVE_STORE'), 'base keeps the SQLite file of server.json');
    const prod = byKind(renderKustomization(join(ROOT, OVERLAYS.production)), 'Deployment', 'skipserve')[0]!.spec.template.spec.containers[0];
    const env = prod.env.find((e: K8sObject) => e.name === 'SKIPSERVE_STORE');
    assert.deepEqual(env?.valueFrom?.secretKeyRef, { name: 'skipserve-store', key: 'url' }, 'production reads the PostgreSQL URL from a Secret');
    assert.equal(prod.env.filter((e: K8sObject) => e.name === 'SKIPSERVE_CONFIG').length, 1, 'the patch adds to the env, it does not replace it');
    const prodCfg = loadConfig(['--config', file], { SKIPSERVE_STORE: 'postgres://skipserve:secret@db:5432/skipserve' });
    assert.equal(storeEngine(prodCfg.store), 'postgres', 'the Secret\'s URL wins over server.json');
    const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
    assert.ok(readme.includes('create secret generic skipserve-store'), 'deploy/README.md says how to create the Secret');
    assert.match(readme, /### Records, feedback and versions across replicas/);
    // The nightly APT round: the same Secret, the trainer image, one whole round promoting through the store.
    const cron = byKind(renderKustomization(join(ROOT, OVERLAYS.production)), 'CronJob', 'skipserve-apt')[0]!;
    const apt = cron.spec.jobTemplate.spec.template.spec.containers[0];
    assert.deepEqual(apt.env.find((e: K8sObject) => e.name === 'SKIPSERVE_STORE')?.valueFrom?.secretKeyRef, { name: 'skipserve-store', key: 'url' });
    assert.deepEqual(apt.command, ['node', 'bin/skipserve.mjs', 'apt', 'round']);
    assert.ok(apt.args.includes('promoted') && apt.args.includes('$(SKIPSERVE_STORE)'));
    assert.equal(cron.spec.concurrencyPolicy, 'Forbid');
    assert.match(readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8'), /^FROM runtime AS trainer$/m);
    assert.equal(byKind(renderKustomization(join(ROOT, OVERLAYS.base)), 'CronJob').length, 0, 'base (SQLite per pod) has no shared store to mine');
  });

  test('arms files pass the server arms parser; the base split is the one the load tests expect', () => {
    for (const f of files(join(DEPLOY, 'kubernetes'), /^arms\.json$/)) {
      assert.doesNotThrow(() => parseArms(JSON.parse(readFileSync(f, 'utf8')), f, POLICY_NAMES), f);
    }
    assert.deepEqual(JSON.parse(readFileSync(join(DEPLOY, 'kubernetes/base/config/arms.json'), 'utf8')), SERVER_AB_ARMS);
    const env = Object.fromEntries(container.env.map((e: K8sObject) => [e.name, e.value]));
    assert.equal(env.SKIPSERVE_ARMS_FILE, '/etc/skipserve/arms.json', 'the server reads its arms from SKIPSERVE_ARMS_FILE');
    const mount = container.volumeMounts.find((m: K8sObject) => m.name === 'config');
    assert.equal(mount.mountPath, '/etc/skipserve');
  });

  test('HPA scales the Deployment on CPU and on the waiting-requests metric the adapter serves', () => {
    const hpa = byKind(base, 'HorizontalPodAutoscaler')[0]!;
    assert.equal(hpa.spec.scaleTargetRef.name, dep.metadata.name);
    const metrics = hpa.spec.metrics as K8sObject[];
    assert.ok(metrics.some((m) => m.type === 'Resource' && m.resource.name === 'cpu'));
    const pods = metrics.find((m) => m.type === 'Pods');
    assert.equal(pods?.pods.metric.name, 'skipserve_waiting_requests');
    const adapter = YAML.parse(readFileSync(join(DEPLOY, 'prometheus/adapter-values.yaml'), 'utf8'));
    const rule = adapter.rules.custom.find((r: K8sObject) => r.name.as === pods.pods.metric.name);
    assert.ok(rule, 'prometheus-adapter has no rule serving the HPA metric');
    assert.match(rule.seriesQuery, /^skipserve_waiting_requests\{/);
  });

  test('ServiceMonitor scrapes the Service port that serves /metrics; PrometheusRule = rule file', () => {
    const sm = byKind(base, 'ServiceMonitor')[0]!;
    const selected = byKind(base, 'Service').filter((s) => Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v));
    assert.equal(selected.length, 1, 'ServiceMonitor must select exactly one Service (no double scrape)');
    assert.ok(selected[0]!.spec.ports.some((p: K8sObject) => p.name === sm.spec.endpoints[0].port));
    assert.equal(sm.spec.endpoints[0].path, '/metrics');
    const rules = YAML.parse(readFileSync(join(DEPLOY, 'prometheus/skipserve-rules.yaml'), 'utf8'));
    assert.deepEqual(byKind(base, 'PrometheusRule')[0]!.spec, rules);
  });

  test('Dockerfile: multi-stage, non-root, healthcheck; RUN steps are the README commands, CMD is npm start', () => {
    const docker = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
    const lines = docker.split('\n').filter((l) => !l.startsWith('#'));
    assert.ok(lines.filter((l) => l.startsWith('FROM ')).length >= 2, 'not multi-stage');
    assert.ok(lines.some((l) => /^USER (node|[1-9]\d*)\b/.test(l)), 'no non-root USER');
    assert.ok(lines.some((l) => l.startsWith('HEALTHCHECK ') && l.includes('/health')));
    const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
    for (const run of lines.filter((l) => l.startsWith('RUN ')).map((l) => l.slice(4).trim())) {
      assert.ok(readme.includes(run), `deploy/README.md does not give the Dockerfile step '${run}'`);
    }
    const cmd = JSON.parse(lines.find((l) => l.startsWith('CMD '))!.slice(4)) as string[];
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    assert.equal(cmd.join(' '), pkg.scripts.start);
    assert.ok(readme.includes('npm start'));
  });
});

describe('dashboard and adapter structure', () => {
  test('Grafana dashboard: unique ids, panels inside the 24-column grid, every variable used is defined', () => {
    const text = readFileSync(join(DEPLOY, 'kubernetes/base/grafana/skipserve-dashboard.json'), 'utf8');
    const dash = JSON.parse(text);
    const ids = dash.panels.map((p: K8sObject) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'duplicate panel ids');
    const defined = new Set(dash.templating.list.map((v: K8sObject) => v.name));
    for (const [, name] of text.matchAll(/\$\{?([a-z_]+)\}?/g)) {
      if (!name!.startsWith('__')) assert.ok(defined.has(name), `variable $${name} is not defined`);
    }
    const titles = new Set<string>();
    for (const p of dash.panels as K8sObject[]) {
      assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `panel '${p.title}' leaves the grid`);
      if (p.type === 'row') continue;
      assert.ok(!titles.has(p.title), `two panels titled '${p.title}'`);
      titles.add(p.title);
      assert.ok(p.targets.length > 0 && p.targets.every((t: K8sObject) => t.expr && t.refId), `panel '${p.title}' has an empty query`);
    }
    // Per-policy panels for what the issue asks to watch.
    for (const words of [/speedup/i, /unique answers/i, /entropy/i, /first token/i, /inter-token/i, /waiting/i, /running rows/i]) {
      assert.ok([...titles].some((t) => words.test(t)), `no panel for ${words}`);
    }
  });

  test('prometheus-adapter rule uses the adapter template fields', () => {
    const adapter = YAML.parse(readFileSync(join(DEPLOY, 'prometheus/adapter-values.yaml'), 'utf8'));
    for (const r of adapter.rules.custom as K8sObject[]) {
      for (const field of ['<<.Series>>', '<<.LabelMatchers>>', '<<.GroupBy>>']) assert.ok(r.metricsQuery.includes(field), `metricsQuery lacks ${field}`);
      assert.deepEqual(Object.keys(r.resources.overrides).sort(), ['namespace', 'pod']);
    }
  });
});
