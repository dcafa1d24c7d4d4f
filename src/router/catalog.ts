/**
 * The plan catalog: the finite set of configurations the learned router chooses from: single
 * (layer, head) masks and small head groups (as in the structured-pruning best-of-N paper), single
 * attention or MLP sublayer skips and small combinations of them (with or without a head mask),
 * and the full model. Each entry gets a learned embedding in the selector.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { SkipPlan } from '../plans/plan.ts';

/**
 * One catalog entry: an id that names what it skips, and the skips themselves. `single` and
 * `group` mask heads only; `sublayer` skips attention and/or MLP sublayers (and may mask heads
 * too); `full` skips nothing.
 */
export interface CatalogEntry {
  /** e.g. "h2.5" (layer 2, head 5), "h1.0+h3.6", "a3" (attention of layer 3), "m4+h2.1", "full". */
  id: string;
  kind: 'single' | 'group' | 'sublayer' | 'full';
  /** [layer, head] pairs masked by this entry. */
  heads: [number, number][];
  /** Layers whose attention sublayer this entry skips (sublayer entries only). */
  skipAttention?: number[];
  /** Layers whose MLP sublayer this entry skips (sublayer entries only). */
  skipMlp?: number[];
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

/** Canonical id of an entry's skips: attention sublayers, MLP sublayers, then heads; "full" when empty. */
export function entryId(skipAttention: number[], skipMlp: number[], heads: [number, number][]): string {
  const a = [...skipAttention].sort((x, y) => x - y).map((l) => `a${l}`);
  const m = [...skipMlp].sort((x, y) => x - y).map((l) => `m${l}`);
  const h = heads.length ? [headsId(heads)] : [];
  const parts = [...a, ...m, ...h];
  return parts.length ? parts.join('+') : 'full';
}

/** True when the entry only masks heads (no sublayer skipped): the entries a shared skip core combines with. */
export function isHeadMaskEntry(entry: CatalogEntry): boolean {
  return entry.heads.length > 0 && !(entry.skipAttention?.length) && !(entry.skipMlp?.length);
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
  const union = (a: readonly number[] = [], b: readonly number[] = []): number[] => [...new Set([...a, ...b])].sort((x, y) => x - y);
  return { skipAttention: union(core?.skipAttention, entry.skipAttention), skipMlp: union(core?.skipMlp, entry.skipMlp), maskHeads: mask };
}

const layerList = z.array(z.number().int().nonnegative());
const catalogSchema = z.object({
  version: z.literal(1),
  numLayers: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  entries: z
    .array(
      z.object({
        id: z.string().min(1),
        kind: z.enum(['single', 'group', 'sublayer', 'full']),
        heads: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])),
        skipAttention: layerList.optional(),
        skipMlp: layerList.optional(),
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
    for (const field of ['skipAttention', 'skipMlp'] as const) {
      for (const l of e[field] ?? []) if (l >= cat.numLayers) throw new Error(`${source}: entries.${i}.${field} has layer ${l}; the model has ${cat.numLayers}`);
    }
    const skips = (e.skipAttention?.length ?? 0) + (e.skipMlp?.length ?? 0);
    if ((e.kind === 'single' || e.kind === 'group') && (skips > 0 || e.heads.length === 0)) {
      throw new Error(`${source}: entries.${i} of kind '${e.kind}' must mask heads and skip no sublayer`);
    }
    if (e.kind === 'sublayer' && skips === 0) throw new Error(`${source}: entries.${i} of kind 'sublayer' skips no sublayer`);
    if (e.kind === 'full' && (skips > 0 || e.heads.length > 0)) throw new Error(`${source}: entries.${i} of kind 'full' must skip nothing`);
    if (ids.has(e.id)) throw new Error(`${source}: entries.${i}.id '${e.id}' is duplicated`);
    ids.add(e.id);
  }
  return cat;
}

/** Reads catalog.json. */
export function loadCatalog(path: string): PlanCatalog {
  return parseCatalog(JSON.parse(readFileSync(path, 'utf8')), path);
}
