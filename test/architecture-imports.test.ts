/**
 * The layering, checked on the real import graph (static and dynamic imports and `new URL(...,
 * import.meta.url)` references of every .ts/.mts/.mjs file): arrows between top-level folders go
 * one way, the server's run-time import closure stays inside what the image ships, and the project
 * has one seeded RNG and one string hash.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';
import { runtimeCopies } from '../testkit/dockerfile.ts';

const ROOT = join(import.meta.dirname, '..');
const SOURCE = /\.(ts|mts|mjs)$/;
const SKIP = new Set(['node_modules', '.git', 'out', 'runs']);

function files(dir: string): string[] {
  if (!existsSync(join(ROOT, dir))) return [];
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = join(dir, e.name);
    if (e.isDirectory()) return SKIP.has(e.name) ? [] : files(rel);
    return SOURCE.test(e.name) && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

const IMPORT = /(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)|new URL\(\s*['"](\.[^'"]+)['"]\s*,\s*import\.meta\.url/g;

/** Repo-relative targets of a file's relative imports. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(IMPORT)].map((m) => normalize(join(dirname(file), m[1] ?? m[2] ?? m[3]!)));
}

const TOP = ['bin', 'src', 'router', 'apt', 'models', 'test', 'bench', 'testkit', 'load-tests', 'deploy'];
const all = TOP.flatMap(files);
const graph = new Map(all.map((f) => [f, importsOf(f)]));
const top = (f: string) => f.split(/[\\/]/)[0]!;

/** Which top-level folders each folder may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  src: [],
  router: ['src', 'models'],
  apt: ['src', 'models', 'router'],
  models: ['src'],
  bin: ['src', 'models', 'router', 'apt'],
  testkit: ['src'],
  bench: ['src', 'testkit', 'load-tests', 'models'],
  'load-tests': ['src', 'testkit'],
  deploy: ['src'],
  test: TOP,
};

test('arrows between top-level folders go one way: src imports only itself; offline tools import the product', () => {
  const bad: string[] = [];
  for (const [file, targets] of graph) {
    const from = top(file);
    for (const t of targets) {
      const to = top(t);
      if (to === '.' || to === '..') continue; // the repository root itself (tests locating files)
      if (to !== from && !ALLOWED[from]!.includes(to)) bad.push(`${file} -> ${t}`);
    }
  }
  assert.deepEqual(bad, []);
  // src/ and router/ are not both ways: router/ holds the offline tools above the server.
  assert.ok(![...graph].some(([f, ts]) => top(f) === 'src' && ts.some((t) => top(t) === 'router')));
});

test("the server's run-time imports are closed inside what the image ships", () => {
  const shipped = runtimeCopies(ROOT).filter((p) => !p.includes('.json') && p !== 'node_modules');
  assert.ok(shipped.includes('src') && shipped.includes('bin'), `the image ships ${shipped.join(', ')}`);
  const seen = new Set<string>();
  const stack = ['src/cli/serve.ts', 'src/model/worker-entry.mjs'];
  while (stack.length) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    assert.ok(existsSync(join(ROOT, f)), `${f} is imported but missing`);
    stack.push(...(graph.get(f) ?? importsOf(f)));
  }
  const outside = [...seen].filter((f) => !shipped.some((p) => f === p || f.startsWith(p + '/')));
  assert.deepEqual(outside, [], 'imported at run time but not shipped');
});

test('one seeded RNG and one string hash (src/util/rng.ts)', () => {
  const mulberry = /0x6d2b79f5/i;
  const fnvPrime = /0x01000193/i;
  const defs = all.filter((f) => !f.startsWith('test/') && f !== 'src/util/rng.ts').filter((f) => {
    const t = readFileSync(join(ROOT, f), 'utf8');
    return mulberry.test(t) || fnvPrime.test(t) || /class Rng\b/.test(t);
  });
  assert.deepEqual(defs.map((f) => relative(ROOT, join(ROOT, f))), []);
});
