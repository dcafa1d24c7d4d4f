/**
 * The plan catalog: the finite set of head-mask configurations the learned router chooses from
 * (every single (layer, head) mask plus small head groups, as in the structured-pruning
 * best-of-N paper). Each entry gets a learned embedding in the selector.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { SkipPlan } from '../plans/plan.ts';

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

/** Canonical id of a set of masked heads. */
export function headsId(heads: [number, number][]): string {
  return [...heads]
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .map(([l, h]) => `h${l}.${h}`)
    .join('+');
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

