/**
 * The plan catalog: the finite set of head-mask configurations the learned router chooses from
 * (every single (layer, head) mask plus small head groups, as in the structured-pruning
 * best-of-N paper). Each entry gets a learned embedding in the selector.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { SkipPlan } from '../src/plans/plan.ts';
import { Rng } from '../src/util/rng.ts';

/** One catalog entry: an id that names its masked heads and the plan itself. */
export interface CatalogEntry {
  /** e.g. "h2.5" (layer 2, head 5) or "h1.0+h3.6" for a group. */
  id: string;
  kind: 'single' | 'group';
  /** [layer, head] pairs masked by this entry. */
  heads: [number, number][];
}

export interface PlanCatalog {
  version: 1;
  numLayers: number;
  numHeads: number;
  entries: CatalogEntry[];
}

export interface CatalogOptions {
  /** Add same-layer pairs of neighbouring heads (default true). */
  layerPairs?: boolean;
  /** Number of random cross-layer head pairs (default numLayers * numHeads / 2). */
  crossPairs?: number;
  /** Seed of the cross-layer pairs (default 0). */
  seed?: number;
}

/** Canonical id of a set of masked heads. */
export function headsId(heads: [number, number][]): string {
  return [...heads]
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .map(([l, h]) => `h${l}.${h}`)
    .join('+');
}

/** Builds the catalog for a model shape: all singles, same-layer pairs, seeded cross-layer pairs. */
export function buildCatalog(numLayers: number, numHeads: number, opts: CatalogOptions = {}): PlanCatalog {
  if (!Number.isInteger(numLayers) || numLayers < 1) throw new Error(`numLayers must be a positive integer, got ${numLayers}`);
  if (!Number.isInteger(numHeads) || numHeads < 1) throw new Error(`numHeads must be a positive integer, got ${numHeads}`);
  const entries: CatalogEntry[] = [];
  const seen = new Set<string>();
  const add = (kind: CatalogEntry['kind'], heads: [number, number][]): void => {
    const id = headsId(heads);
    if (seen.has(id)) return;
    seen.add(id);
    entries.push({ id, kind, heads: [...heads].sort((a, b) => a[0] - b[0] || a[1] - b[1]) });
  };
  for (let l = 0; l < numLayers; l++) for (let h = 0; h < numHeads; h++) add('single', [[l, h]]);
  if ((opts.layerPairs ?? true) && numHeads > 1) {
    for (let l = 0; l < numLayers; l++) for (let h = 0; h + 1 < numHeads; h += 2) add('group', [[l, h], [l, h + 1]]);
  }
  const cross = opts.crossPairs ?? Math.floor((numLayers * numHeads) / 2);
  if (numLayers > 1) {
    const rng = new Rng(opts.seed ?? 0);
    let guard = 0;
    let added = 0;
    while (added < cross && guard++ < cross * 50) {
      const l1 = rng.below(numLayers);
      let l2 = rng.below(numLayers - 1);
      if (l2 >= l1) l2++;
      const before = entries.length;
      add('group', [[l1, rng.below(numHeads)], [l2, rng.below(numHeads)]]);
      if (entries.length > before) added++;
    }
  }
  return { version: 1, numLayers, numHeads, entries };
}

/** The skip plan of a catalog entry, optionally on top of a shared skip core. */
export function entryPlan(entry: CatalogEntry, core?: SkipPlan): SkipPlan {
  const mask: Record<number, number[]> = {};
  for (const [l, hs] of Object.entries(core?.maskHeads ?? {})) mask[Number(l)] = [...hs];
  for (const [l, h] of entry.heads) {
    const list = (mask[l] ??= []);
    if (!list.includes(h)) list.push(h);
  }
  for (const l of Object.keys(mask)) mask[Number(l)]!.sort((a, b) => a - b);
  return { skipAttention: [...(core?.skipAttention ?? [])], skipMlp: [...(core?.skipMlp ?? [])], maskHeads: mask };
}

const catalogSchema = z.object({
  version: z.literal(1),
  numLayers: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  entries: z
    .array(
      z.object({
        id: z.string().min(1),
        kind: z.enum(['single', 'group']),
        heads: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])).min(1),
      }),
    )
    .min(1),
});

/** Parses and checks a catalog (JSON value); errors name the bad field. */
export function parseCatalog(value: unknown, source = 'catalog'): PlanCatalog {
  const r = catalogSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new Error(`${source}: invalid field '${issue.path.join('.') || '(root)'}': ${issue.message}`);
  }
  const cat = r.data as PlanCatalog;
  const ids = new Set<string>();
  for (const [i, e] of cat.entries.entries()) {
    for (const [l, h] of e.heads) {
      if (l >= cat.numLayers || h >= cat.numHeads) {
        throw new Error(`${source}: entries.${i}.heads has (${l}, ${h}) outside ${cat.numLayers} layers x ${cat.numHeads} heads`);
      }
    }
    if (ids.has(e.id)) throw new Error(`${source}: entries.${i}.id '${e.id}' is duplicated`);
    ids.add(e.id);
  }
  return cat;
}

/** Reads catalog.json. */
export function loadCatalog(path: string): PlanCatalog {
  return parseCatalog(JSON.parse(readFileSync(path, 'utf8')), path);
}

/** Writes catalog.json (one entry per line, diff-friendly). */
export function saveCatalog(path: string, cat: PlanCatalog): void {
  const lines = cat.entries.map((e) => '    ' + JSON.stringify(e));
  const text = `{\n  "version": 1,\n  "numLayers": ${cat.numLayers},\n  "numHeads": ${cat.numHeads},\n  "entries": [\n${lines.join(',\n')}\n  ]\n}\n`;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}
