/**
 * Per-problem candidate plans from a registered skip policy (`--policy NAME`), exactly as the
 * server would choose them: the built-in registry plus every discovered policy module.
 */
import { builtinRegistry, discoverPolicies } from '../../../src/plans/policies/registry.ts';
import type { PolicyContext } from '../../../src/plans/policies/policy.ts';
import type { SkipPlan } from '../../../src/plans/plan.ts';
import { FULL_PLAN } from '../../../src/plans/plan.ts';
import type { ModelRunner } from '../../../src/model/runner-types.ts';

interface Ctx {
  runner: ModelRunner;
  problems: { question: string }[];
  prompts: number[][];
}

/** The prompt's mean-pooled embedding from a full-model prefill (what the learned router reads). */
async function embed(runner: ModelRunner, prompt: number[]): Promise<Float32Array> {
  const seq = await runner.createSeq();
  try {
    const out = await runner.step([{ seq, tokens: prompt, plan: FULL_PLAN, logits: 'last', embed: true }]);
    const e = out.embeddings[0];
    if (!e) throw new Error('runtime returned no embedding');
    return e;
  } finally {
    await runner.freeSeq(seq);
  }
}

/** n plans per problem from policy `name`; request seed for problem i is seed + i * n. */
export async function policyPlans(ctx: Ctx, modelDir: string, name: string, n: number, seed: number): Promise<SkipPlan[][]> {
  const deps = { info: ctx.runner.info, modelDir, runner: ctx.runner, defaults: { k: 1 } };
  const reg = builtinRegistry(deps);
  await discoverPolicies(reg, deps, (file, err) => process.stderr.write(`policy module ${file} not loaded: ${err instanceof Error ? err.message : err}\n`));
  const policy = reg.get(name);
  if (!policy) throw new Error(`--policy must be one of ${reg.names().join(', ')}, got '${name}'`);
  const why = policy.unavailableReason();
  if (why) throw new Error(`policy '${name}' is unavailable for this model: ${why}`);
  const out: SkipPlan[][] = [];
  for (let i = 0; i < ctx.problems.length; i++) {
    const pc: PolicyContext = {
      info: ctx.runner.info,
      n,
      seed: seed + i * n,
      promptTokens: ctx.prompts[i]!,
      promptText: ctx.problems[i]!.question,
      options: {},
      embedPrompt: () => embed(ctx.runner, ctx.prompts[i]!),
    };
    const r = await policy.choose(pc);
    if (r.plans.length !== n) throw new Error(`policy '${name}' returned ${r.plans.length} plans, expected ${n}`);
    out.push(r.plans);
  }
  return out;
}
