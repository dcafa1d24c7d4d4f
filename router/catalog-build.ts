/**
 * Building the plan catalog at calibration time: every single (layer, head) mask, same-layer pairs
 * of neighbouring heads and seeded cross-layer pairs; saved one entry per line.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { headsId, type CatalogEntry, type PlanCatalog } from '../src/router/catalog.ts';
import { Rng } from '../src/util/rng.ts';

export interface CatalogOptions {
  /** Add same-layer pairs of neighbouring heads (default true). */
  layerPairs?: boolean;
  /** Number of random cross-layer head pairs (default numLayers * numHeads / 2). */
  crossPairs?: number;
  /** Seed of the cross-layer pairs (default 0). */
  seed?: number;
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

/** Writes catalog.json (one entry per line, diff-friendly). */
export function saveCatalog(path: string, cat: PlanCatalog): void {
  const lines = cat.entries.map((e) => '    ' + JSON.stringify(e));
  const text = `{\n  "version": 1,\n  "numLayers": ${cat.numLayers},\n  "numHeads": ${cat.numHeads},\n  "entries": [\n${lines.join(',\n')}\n  ]\n}\n`;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}
