/**
 * Reads a question back: which tier, kind and number of steps the generator gave it, and how many
 * digits its numbers have. APT's weakness mining groups served requests by these (a request's
 * metadata carries them when an evaluation sent it; live traffic is parsed here), and acquisition
 * makes fresh problems with the same description (like.ts).
 */
import type { Kind, Problem, Tier } from './problems.ts';
import { ADD_PHRASES, DISTRACTOR_PHRASES, DIV_PHRASES, MUL_PHRASES, SUB_PHRASES } from './vocab.ts';
import {
  COMPARE_FEWER, COMPARE_MORE, COMPARE_TIMES, HARD_DISTRACTOR_PHRASES, NESTED_ADD_PHRASES, NESTED_SUB_PHRASES, PCT_ADD_PHRASES, PCT_SUB_PHRASES,
} from './hard-vocab.ts';

/** What acquisition matches on. */
export interface ProblemDescription {
  tier: Tier;
  kind: Kind;
  steps: number;
  /** Most digits of any number in the question. */
  digits: number;
}

type Role = 'add' | 'sub' | 'mul' | 'div' | 'percent' | 'nested' | 'compare' | 'distractor';

const SLOT: Record<string, string> = {
  b: '\\d+', k: '\\d+', c: '\\d+', a: '\\d+', d: '\\d+', pct: '\\d+',
  p: '(?:She|He)', pl: '(?:she|he)', q: '(?:her|his)', m: '(?:her|him)',
  o: '[a-z]+', o2: '[a-z]+', n: '[A-Z][a-z]+', t: '[A-Z][a-z]+', name: '[A-Z][a-z]+',
};

function pattern(template: string): RegExp {
  const body = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_, k: string) => SLOT[k] ?? '.+?');
  return new RegExp(`^${body}$`);
}

const ROLES: [Role, RegExp[]][] = [
  ['percent', [...PCT_ADD_PHRASES, ...PCT_SUB_PHRASES].map(pattern)],
  ['nested', [...NESTED_ADD_PHRASES, ...NESTED_SUB_PHRASES].map(pattern)],
  ['compare', [COMPARE_MORE, COMPARE_FEWER, COMPARE_TIMES].map(pattern)],
  ['add', ADD_PHRASES.map(pattern)],
  ['sub', SUB_PHRASES.map(pattern)],
  ['mul', MUL_PHRASES.map(pattern)],
  ['div', DIV_PHRASES.map(pattern)],
  ['distractor', [...DISTRACTOR_PHRASES, ...HARD_DISTRACTOR_PHRASES].map(pattern)],
];

/** The role of one sentence after the opening "X has N things.", or null (the question). */
function roleOf(sentence: string): Role | null {
  for (const [role, res] of ROLES) if (res.some((re) => re.test(sentence))) return role;
  return null;
}

/** Describes a question made by the generator (any tier); unknown sentences are ignored. */
export function describeQuestion(question: string): ProblemDescription {
  const sentences = question.match(/[^.?]+[.?]/g)?.map((s) => s.trim()) ?? [];
  // The first sentence states the start amount (it reads like a distractor "N has C things.").
  const roles = sentences.slice(1).map(roleOf).filter((r): r is Role => r !== null);
  const ops = roles.filter((r) => r !== 'distractor');
  const has = (r: Role) => roles.includes(r);
  const digits = Math.max(0, ...(question.match(/\d+/g) ?? []).map((d) => d.length));
  const hard = ops.length >= 7 || has('percent') || has('nested') || has('compare') || digits >= 4;
  const addSub = ops.some((r) => r === 'add' || r === 'sub' || r === 'percent' || r === 'nested' || r === 'compare');
  const mulDiv = ops.some((r) => r === 'mul' || r === 'div');
  const kind: Kind = has('compare') ? 'compare' : has('percent') ? 'percent' : has('nested') ? 'nested'
    : has('distractor') ? 'distractor' : addSub && mulDiv ? 'mixed' : mulDiv ? 'mul-div' : 'add-sub';
  return { tier: hard ? 'hard' : 'standard', kind, steps: ops.length, digits };
}

/** The description of a generated problem (its own fields, the digits from its question). */
export function describeProblem(p: Problem): ProblemDescription {
  return { tier: p.tier, kind: p.kind, steps: p.steps, digits: describeQuestion(p.question).digits };
}
