/**
 * Renders a kustomization directory (the subset deploy/kubernetes uses) without kubectl, so CI can
 * validate the staging and production overlays offline: resources (files and directories),
 * namespace, labels, images, replicas, strategic-merge patches, configMapGenerator (files,
 * literals, create/merge/replace, content-hash name suffix with the references to it rewritten).
 *   node --import tsx deploy/tools/render-kustomize.ts deploy/kubernetes/overlays/staging
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export type K8sObject = Record<string, any>;

interface Rendered {
  obj: K8sObject;
  /** Generated ConfigMap: name before the hash suffix, and whether to add one. */
  generated?: { name: string; hash: boolean };
}

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PriorityClass', 'StorageClass', 'APIService']);
const KNOWN_KEYS = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'labels', 'images', 'replicas', 'patches', 'configMapGenerator', 'generatorOptions']);

/** Parses every YAML document of a file (skipping empty ones). */
export function readYamlDocs(path: string): K8sObject[] {
  return YAML.parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => {
      if (d.errors.length) throw new Error(`${path}: ${d.errors[0]!.message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((d): d is K8sObject => d !== null && d !== undefined);
}

function isObj(v: unknown): v is K8sObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Merge keys of the lists these manifests patch (Kubernetes' patchMergeKey); other lists of maps merge by `name`. */
const MERGE_KEYS: Record<string, string> = { topologySpreadConstraints: 'topologyKey', ports: 'containerPort', volumeMounts: 'mountPath' };

/**
 * Strategic merge patch, as far as these manifests need it: maps merge, lists of maps merge by their
 * merge key (new items first, as kustomize orders them), other lists are replaced, `null` deletes.
 */
export function strategicMerge(target: unknown, patch: unknown, field = ''): unknown {
  if (isObj(target) && isObj(patch)) {
    const out: K8sObject = { ...target };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = k in out ? strategicMerge(out[k], v, k) : v;
    }
    return out;
  }
  const key = MERGE_KEYS[field] ?? 'name';
  if (Array.isArray(target) && Array.isArray(patch) && [...target, ...patch].every((x) => isObj(x) && key in x)) {
    const out = target.map((t) => ({ ...t }));
    const added: K8sObject[] = [];
    for (const p of patch as K8sObject[]) {
      const i = out.findIndex((t) => t[key] === p[key]);
      if (i >= 0) out[i] = strategicMerge(out[i], p) as K8sObject;
      else added.push(p);
    }
    return [...added, ...out];
  }
  return patch;
}

/** Go's json.Marshal of a map (sorted keys, HTML-safe escapes), as kustomize hashes it. */
function goJson(v: unknown): string {
  const sorted = (x: unknown): unknown =>
    isObj(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, sorted(x[k])])) : Array.isArray(x) ? x.map(sorted) : x;
  return JSON.stringify(sorted(v))
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/**
 * kustomize's ConfigMap name suffix: sha256 of {data, kind, name} (kustomize v5 hashes an empty
 * name), first 10 hex digits, re-lettered.
 */
export function configMapHash(data: Record<string, string>): string {
  const hex = createHash('sha256').update(goJson({ kind: 'ConfigMap', name: '', data })).digest('hex');
  const swap: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' };
  return [...hex.slice(0, 10)].map((c) => swap[c] ?? c).join('');
}

function generateConfigMaps(dir: string, k: K8sObject, acc: Rendered[]): void {
  for (const [i, gen] of ((k.configMapGenerator ?? []) as K8sObject[]).entries()) {
    const at = `${dir}: configMapGenerator[${i}]`;
    if (typeof gen.name !== 'string') throw new Error(`${at}.name is required`);
    const data: Record<string, string> = {};
    for (const f of (gen.files ?? []) as string[]) {
      const [key, path] = f.includes('=') ? (f.split('=', 2) as [string, string]) : [basename(f), f];
      data[key] = readFileSync(join(dir, path), 'utf8');
    }
    for (const lit of (gen.literals ?? []) as string[]) {
      const eq = lit.indexOf('=');
      if (eq < 1) throw new Error(`${at}.literals: '${lit}' must be KEY=VALUE`);
      data[lit.slice(0, eq)] = lit.slice(eq + 1);
    }
    const options = { ...(k.generatorOptions ?? {}), ...(gen.options ?? {}) } as K8sObject;
    const behavior = gen.behavior ?? 'create';
    const existing = acc.find((r) => r.generated?.name === gen.name && r.obj.kind === 'ConfigMap');
    if (behavior === 'create') {
      if (existing) throw new Error(`${at}: ConfigMap '${gen.name}' already exists (use behavior: merge)`);
      const obj: K8sObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: gen.name }, data };
      if (options.labels) obj.metadata.labels = { ...options.labels };
      if (options.annotations) obj.metadata.annotations = { ...options.annotations };
      acc.push({ obj, generated: { name: gen.name, hash: options.disableNameSuffixHash !== true } });
    } else if (behavior === 'merge' || behavior === 'replace') {
      if (!existing) throw new Error(`${at}: no ConfigMap '${gen.name}' to ${behavior}`);
      existing.obj.data = behavior === 'merge' ? { ...existing.obj.data, ...data } : data;
      if (options.labels) existing.obj.metadata.labels = { ...existing.obj.metadata.labels, ...options.labels };
    } else {
      throw new Error(`${at}.behavior '${behavior}' is not create, merge or replace`);
    }
  }
}

function podSpecs(obj: K8sObject): K8sObject[] {
  const spec = obj.spec?.template?.spec ?? obj.spec?.jobTemplate?.spec?.template?.spec;
  return isObj(spec) ? [spec] : [];
}

function applyTransforms(dir: string, k: K8sObject, acc: Rendered[]): void {
  for (const r of acc) {
    const o = r.obj;
    o.metadata ??= {};
    for (const entry of (k.labels ?? []) as K8sObject[]) {
      o.metadata.labels = { ...(o.metadata.labels ?? {}), ...entry.pairs };
      if (entry.includeSelectors || entry.includeTemplates) throw new Error(`${dir}: labels.includeSelectors/includeTemplates are not supported by this renderer`);
    }
    if (k.namespace && !CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
    for (const spec of podSpecs(o)) {
      for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])] as K8sObject[]) {
        for (const img of (k.images ?? []) as K8sObject[]) {
          const m = /^([^@:]+(?::\d+\/[^@:]+)?)(?::([^@]+))?(?:@(.+))?$/.exec(String(c.image));
          if (!m || m[1] !== img.name) continue;
          const name = img.newName ?? m[1];
          c.image = img.digest ? `${name}@${img.digest}` : `${name}:${img.newTag ?? m[2] ?? 'latest'}`;
        }
      }
    }
    for (const rep of (k.replicas ?? []) as K8sObject[]) {
      if (rep.name === o.metadata.name && ['Deployment', 'StatefulSet', 'ReplicaSet'].includes(o.kind)) o.spec.replicas = rep.count;
    }
  }
  for (const [i, p] of ((k.patches ?? []) as K8sObject[]).entries()) {
    const docs = p.path ? readYamlDocs(join(dir, p.path)) : [YAML.parse(String(p.patch)) as K8sObject];
    for (const doc of docs) {
      const kind = p.target?.kind ?? doc.kind;
      const name = p.target?.name ?? doc.metadata?.name;
      const hit = acc.find((r) => r.obj.kind === kind && (r.generated?.name ?? r.obj.metadata.name) === name);
      if (!hit) throw new Error(`${dir}: patches[${i}] targets ${kind}/${name}, which no resource is`);
      hit.obj = strategicMerge(hit.obj, { ...doc, metadata: { ...doc.metadata, name: hit.obj.metadata.name } }) as K8sObject;
    }
  }
}

function renderDir(dir: string): Rendered[] {
  const path = join(dir, 'kustomization.yaml');
  const k = YAML.parse(readFileSync(path, 'utf8')) as K8sObject;
  for (const key of Object.keys(k)) if (!KNOWN_KEYS.has(key)) throw new Error(`${path}: field '${key}' is not supported by this renderer`);
  const acc: Rendered[] = [];
  for (const res of (k.resources ?? []) as string[]) {
    const full = resolve(dir, res);
    if (statSync(full).isDirectory()) acc.push(...renderDir(full));
    else acc.push(...readYamlDocs(full).map((obj) => ({ obj })));
  }
  generateConfigMaps(dir, k, acc);
  applyTransforms(dir, k, acc);
  return acc;
}

/** Rewrites references to generated ConfigMaps in pod specs to their final (hashed) names. */
function rewriteRefs(obj: K8sObject, names: Map<string, string>): void {
  const fix = (ref: K8sObject | undefined) => {
    if (ref && names.has(ref.name)) ref.name = names.get(ref.name);
  };
  for (const spec of podSpecs(obj)) {
    for (const v of (spec.volumes ?? []) as K8sObject[]) {
      fix(v.configMap);
      for (const s of (v.projected?.sources ?? []) as K8sObject[]) fix(s.configMap);
    }
    for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])] as K8sObject[]) {
      for (const e of (c.envFrom ?? []) as K8sObject[]) fix(e.configMapRef);
      for (const e of (c.env ?? []) as K8sObject[]) fix(e.valueFrom?.configMapKeyRef);
    }
  }
}

/** Renders the kustomization in `dir` to the list of objects `kubectl kustomize dir` would print. */
export function renderKustomization(dir: string): K8sObject[] {
  const rendered = renderDir(resolve(dir));
  const names = new Map<string, string>();
  for (const r of rendered) {
    if (!r.generated) continue;
    const final = r.generated.hash ? `${r.generated.name}-${configMapHash(r.obj.data ?? {})}` : r.generated.name;
    r.obj.metadata.name = final;
    names.set(r.generated.name, final);
  }
  for (const r of rendered) rewriteRefs(r.obj, names);
  return rendered.map((r) => r.obj);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: render-kustomize.ts DIR\n');
    process.exit(2);
  }
  process.stdout.write(renderKustomization(dir).map((o) => YAML.stringify(o)).join('---\n'));
}
