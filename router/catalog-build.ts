/**
 * Building the plan catalog at calibration time: every single (layer, head) mask, same-layer pairs
 * of neighbouring heads and seeded cross-layer pairs; single attention and MLP sublayer skips of
 * layers >= 1, seeded pairs of them and seeded sublayer + head combinations; and the full model.
 * Saved one entry per line.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { entryId, type CatalogEntry, type PlanCatalog } from '../src/router/catalog.ts';
import { Rng } from '../src/util/rng.ts';
import type { PlanShape } from '../src/plans/plan.ts';
import { randomCore } from '../src/plans/random-core.ts';

export interface CatalogOptions {
  /** Add same-layer pairs of neighbouring heads (default true). */
  layerPairs?: boolean;
  /** Number of random cross-layer head pairs (default numLayers * numHeads / 2). */
  crossPairs?: number;
  /** Add single attention and MLP sublayer skips of layers >= 1 (default true). */
  sublayers?: boolean;
  /** Number of random pairs of two sublayer skips (default numLayers - 1; needs `sublayers`). */
  sublayerPairs?: number;
  /** Number of random sublayer skip + head mask combinations (default numLayers - 1; needs `sublayers`). */
  sublayerHeads?: number;
  /** Add the full model as an entry, so the selector can keep a candidate unpruned (default true). */
  full?: boolean;
  /** Seed of the random pairs (default 0). */
  seed?: number;
}

interface Sub {
  kind: 'attention' | 'mlp';
  layer: number;
}

/** Builds the catalog for a model shape (see the file comment for what it holds). */
export function buildCatalog(numLayers: number, numHeads: number, opts: CatalogOptions = {}): PlanCatalog {
  if (!Number.isInteger(numLayers) || numLayers < 1) throw new Error(`numLayers must be a positive integer, got ${numLayers}`);
  if (!Number.isInteger(numHeads) || numHeads < 1) throw new Error(`numHeads must be a positive integer, got ${numHeads}`);
  const entries: CatalogEntry[] = [];
  const seen = new Set<string>();
  const add = (heads: [number, number][], subs: Sub[] = []): boolean => {
    const skipAttention = subs.filter((s) => s.kind === 'attention').map((s) => s.layer).sort((a, b) => a - b);
    const skipMlp = subs.filter((s) => s.kind === 'mlp').map((s) => s.layer).sort((a, b) => a - b);
    const id = entryId(skipAttention, skipMlp, heads);
    if (seen.has(id)) return false;
    seen.add(id);
    const sorted = [...heads].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    if (subs.length === 0 && heads.length === 0) entries.push({ id, kind: 'full', heads: [] });
    else if (subs.length === 0) entries.push({ id, kind: heads.length === 1 ? 'single' : 'group', heads: sorted });
    else entries.push({ id, kind: 'sublayer', heads: sorted, ...(skipAttention.length ? { skipAttention } : {}), ...(skipMlp.length ? { skipMlp } : {}) });
    return true;
  };
  for (let l = 0; l < numLayers; l++) for (let h = 0; h < numHeads; h++) add([[l, h]]);
  if ((opts.layerPairs ?? true) && numHeads > 1) {
    for (let l = 0; l < numLayers; l++) for (let h = 0; h + 1 < numHeads; h += 2) add([[l, h], [l, h + 1]]);
  }
  const rng = new Rng(opts.seed ?? 0);
  /** Adds up to `count` seeded random entries drawn by `draw` (duplicates are redrawn a bounded number of times). */
  const addRandom = (count: number, draw: () => boolean): void => {
    let added = 0;
    for (let guard = 0; added < count && guard < count * 50; guard++) if (draw()) added++;
  };
  if (numLayers > 1) {
    addRandom(opts.crossPairs ?? Math.floor((numLayers * numHeads) / 2), () => {
      const l1 = rng.below(numLayers);
      let l2 = rng.below(numLayers - 1);
      if (l2 >= l1) l2++;
      return add([[l1, rng.below(numHeads)], [l2, rng.below(numHeads)]]);
    });
  }
  if ((opts.sublayers ?? true) && numLayers > 1) {
    const subs: Sub[] = [];
    for (let l = 1; l < numLayers; l++) subs.push({ kind: 'attention', layer: l }, { kind: 'mlp', layer: l });
    for (const s of subs) add([], [s]);
    const pick = (): Sub => subs[rng.below(subs.length)]!;
    if (subs.length > 1) {
      addRandom(opts.sublayerPairs ?? numLayers - 1, () => {
        const a = pick();
        const b = pick();
        return a !== b && add([], [a, b]);
      });
    }
    addRandom(opts.sublayerHeads ?? numLayers - 1, () => {
      const s = pick();
      const l = rng.below(numLayers);
      // A head masked in a skipped attention sublayer changes nothing: draw again.
      if (s.kind === 'attention' && s.layer === l) return false;
      return add([[l, rng.below(numHeads)]], [s]);
    });
  }
  if (opts.full ?? true) add([]);
  return { version: 1, numLayers, numHeads, entries };
}

/**
 * A catalog of sub-networks: the full model and `count` distinct seeded random skip cores of about
 * `fracs` of the sublayer FLOPs each (in turn, when several), the `sub-networks` policy's kind of
 * candidate, so the selector picks which sub-networks answer a prompt.
 */
export function buildCoresCatalog(shape: PlanShape, count: number, fracs: readonly number[], seed = 0): PlanCatalog {
  const rng = new Rng(seed);
  const entries: CatalogEntry[] = [{ id: entryId([], [], []), kind: 'full', heads: [] }];
  const seen = new Set(entries.map((e) => e.id));
  for (let guard = 0; entries.length < count + 1 && guard < count * 50; guard++) {
    const c = randomCore(shape, fracs[(entries.length - 1) % fracs.length]!, rng);
    const id = entryId(c.skipAttention, c.skipMlp, []);
    if (seen.has(id) || c.skipAttention.length + c.skipMlp.length === 0) continue;
    seen.add(id);
    entries.push({ id, kind: 'sublayer', heads: [], ...(c.skipAttention.length ? { skipAttention: c.skipAttention } : {}), ...(c.skipMlp.length ? { skipMlp: c.skipMlp } : {}) });
  }
  return { version: 1, numLayers: shape.numLayers, numHeads: shape.numHeads, entries };
}

/** Writes catalog.json (one entry per line, diff-friendly). */
export function saveCatalog(path: string, cat: PlanCatalog): void {
  const lines = cat.entries.map((e) => '    ' + JSON.stringify(e));
  const text = `{\n  "version": 1,\n  "numLayers": ${cat.numLayers},\n  "numHeads": ${cat.numHeads},\n  "entries": [\n${lines.join(',\n')}\n  ]\n}\n`;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}
