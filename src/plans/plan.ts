/**
 * Skip plan: what one candidate row skips. A layer is skipped when both its attention and its
 * MLP sublayer are. Indices are 0-based, sorted and unique once validated.
 * Wire form (JSON): {"skip_layers":[3],"skip_attention":[5],"skip_mlp":[7],"mask_heads":{"2":[0,4]}}.
 */
import type { SkipCore } from '../model/runner-types.ts';

export interface SkipPlan {
  skipAttention: number[];
  skipMlp: number[];
  /** layer index -> masked head indices (query heads). */
  maskHeads: Record<number, number[]>;
}

/** The full model: nothing skipped, nothing masked. */
export const FULL_PLAN: SkipPlan = Object.freeze({ skipAttention: [], skipMlp: [], maskHeads: {} }) as SkipPlan;

/** A plan's sublayer skips as a skip core, sorted (null when it skips no sublayer: head masks alone are no core). */
export function planCore(plan: SkipPlan | null): SkipCore | null {
  if (plan === null || (plan.skipAttention.length === 0 && plan.skipMlp.length === 0)) return null;
  return { attention: [...plan.skipAttention].sort((a, b) => a - b), mlp: [...plan.skipMlp].sort((a, b) => a - b) };
}

/** The model shape a plan is checked against (a subset of ModelInfo). */
export interface PlanShape {
  numLayers: number;
  numHeads: number;
  numKvHeads?: number;
  headDim?: number;
  hiddenSize?: number;
  intermediateSize?: number;
  vocabSize?: number;
}

/** JSON wire form of a plan. */
export interface SkipPlanWire {
  skip_layers?: number[];
  skip_attention?: number[];
  skip_mlp?: number[];
  mask_heads?: Record<string, number[]>;
}

/** A plan error; `field` names the offending wire field (e.g. "skip_attention[1]"). */
export class PlanError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'PlanError';
  }
}

function indexList(v: unknown, field: string, limit: number, what: string): number[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new PlanError(field, `${field} must be an array of integers`);
  v.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isInteger(x)) throw new PlanError(`${field}[${i}]`, `${field}[${i}]=${JSON.stringify(x)} is not an integer`);
    if (x < 0 || x >= limit) throw new PlanError(`${field}[${i}]`, `${field}[${i}]=${x} out of range: model has ${limit} ${what}`);
  });
  return v as number[];
}

function sortedUnique(xs: number[]): number[] {
  return [...new Set(xs)].sort((a, b) => a - b);
}

/** Parses and validates the wire form against the model shape. */
export function parsePlan(wire: unknown, shape: PlanShape): SkipPlan {
  if (wire === null || typeof wire !== 'object' || Array.isArray(wire)) throw new PlanError('plan', 'plan must be a JSON object');
  const w = wire as Record<string, unknown>;
  const known = ['skip_layers', 'skip_attention', 'skip_mlp', 'mask_heads'];
  for (const k of Object.keys(w)) {
    if (!known.includes(k)) throw new PlanError(k, `unknown plan field ${k} (allowed: ${known.join(', ')})`);
  }
  const L = shape.numLayers;
  const layers = indexList(w.skip_layers, 'skip_layers', L, 'layers');
  const attn = indexList(w.skip_attention, 'skip_attention', L, 'layers');
  const mlp = indexList(w.skip_mlp, 'skip_mlp', L, 'layers');
  const maskHeads: Record<number, number[]> = {};
  if (w.mask_heads !== undefined && w.mask_heads !== null) {
    if (typeof w.mask_heads !== 'object' || Array.isArray(w.mask_heads)) throw new PlanError('mask_heads', 'mask_heads must be an object {"layer": [heads]}');
    for (const [k, v] of Object.entries(w.mask_heads as Record<string, unknown>)) {
      const layer = Number(k);
      if (!/^\d+$/.test(k) || layer >= L) throw new PlanError(`mask_heads.${k}`, `mask_heads key ${JSON.stringify(k)} is not a layer index: model has ${L} layers`);
      const heads = indexList(v, `mask_heads.${k}`, shape.numHeads, 'heads');
      if (heads.length) maskHeads[layer] = sortedUnique(heads);
    }
  }
  return validatePlan({ skipAttention: [...layers, ...attn], skipMlp: [...layers, ...mlp], maskHeads }, shape);
}

/** Checks a domain plan against the model shape and returns it normalized (sorted, unique). */
export function validatePlan(plan: SkipPlan, shape: PlanShape): SkipPlan {
  const L = shape.numLayers;
  const skipAttention = sortedUnique(indexList(plan.skipAttention, 'skip_attention', L, 'layers'));
  const skipMlp = sortedUnique(indexList(plan.skipMlp, 'skip_mlp', L, 'layers'));
  const maskHeads: Record<number, number[]> = {};
  for (const [k, v] of Object.entries(plan.maskHeads ?? {})) {
    const layer = Number(k);
    if (!Number.isInteger(layer) || layer < 0 || layer >= L) throw new PlanError(`mask_heads.${k}`, `mask_heads.${k}: layer out of range: model has ${L} layers`);
    const heads = sortedUnique(indexList(v, `mask_heads.${k}`, shape.numHeads, 'heads'));
    if (heads.length) maskHeads[layer] = heads;
  }
  return { skipAttention, skipMlp, maskHeads };
}

/** Serializes a plan to its wire form (layers skipped in both sublayers become skip_layers). */
export function planToWire(plan: SkipPlan): SkipPlanWire {
  const mlp = new Set(plan.skipMlp);
  const attn = new Set(plan.skipAttention);
  const layers = sortedUnique(plan.skipAttention.filter((l) => mlp.has(l)));
  const out: SkipPlanWire = {};
  if (layers.length) out.skip_layers = layers;
  const a = sortedUnique(plan.skipAttention.filter((l) => !mlp.has(l)));
  const m = sortedUnique(plan.skipMlp.filter((l) => !attn.has(l)));
  if (a.length) out.skip_attention = a;
  if (m.length) out.skip_mlp = m;
  const heads = Object.entries(plan.maskHeads).filter(([, v]) => v.length);
  if (heads.length) out.mask_heads = Object.fromEntries(heads.map(([k, v]) => [k, sortedUnique(v)]));
  return out;
}

/** A canonical string for a plan (equal plans, equal keys; order and duplicates do not matter). */
export function planKey(plan: SkipPlan): string {
  const heads = Object.keys(plan.maskHeads)
    .map(Number)
    .filter((l) => (plan.maskHeads[l] ?? []).length > 0)
    .sort((a, b) => a - b)
    .map((l) => `${l}:${sortedUnique(plan.maskHeads[l]!).join('.')}`);
  return `a${sortedUnique(plan.skipAttention).join('.')}|m${sortedUnique(plan.skipMlp).join('.')}|h${heads.join(',')}`;
}

const intersect = (lists: readonly (readonly number[])[]): number[] =>
  lists.length === 0 ? [] : sortedUnique([...lists[0]!].filter((x) => lists.every((l) => l.includes(x))));

/**
 * The skip core of a set of plans: the sublayers and head masks all of them share. A best-of-N
 * request prefills its prompt once under its core; only the core's sublayers save time in a batch.
 */
export function skipCore(plans: readonly SkipPlan[]): SkipPlan {
  const maskHeads: Record<number, number[]> = {};
  if (plans.length) {
    for (const layer of Object.keys(plans[0]!.maskHeads).map(Number)) {
      const heads = intersect(plans.map((p) => p.maskHeads[layer] ?? []));
      if (heads.length) maskHeads[layer] = heads;
    }
  }
  return { skipAttention: intersect(plans.map((p) => p.skipAttention)), skipMlp: intersect(plans.map((p) => p.skipMlp)), maskHeads };
}

/** Key of the sublayers a plan skips (head masks excluded): rows with equal keys batch together. */
export function coreKey(core: SkipPlan): string {
  return planKey({ skipAttention: core.skipAttention, skipMlp: core.skipMlp, maskHeads: {} });
}

export { planCost, type PlanCost } from './cost.ts';
