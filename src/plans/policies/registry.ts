/**
 * The policy registry. The engine looks policies up by name and calls `choose`; it never imports a
 * policy. Built-ins register here; any other module in this folder that exports
 * `createPolicies(deps)` is discovered at startup by `discoverPolicies`, so later policies
 * (head-importance, latency-budget, expert-profile, learned) plug in by adding a file.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ModelInfo } from '../../model/model-info.ts';
import type { ModelRunner } from '../../model/runner-types.ts';
import type { SkipPolicy } from './policy.ts';
import { nonePolicy } from './none.ts';
import { explicitPolicy } from './explicit.ts';
import { randomHeadsPolicy } from './random-heads.ts';

/** What a policy factory may use to build its policies. */
export interface PolicyDeps {
  info: ModelInfo;
  /** Checkpoint directory (profiles, selector.onnx, calibration results live there). */
  modelDir: string;
  /** The running model (e.g. for measuring latency); policies must not call step() themselves. */
  runner?: ModelRunner;
  /** Server defaults, e.g. the k of random-heads. */
  defaults: { k: number; targetSpeedup?: number };
}

/** A module in this folder that contributes policies. */
export interface PolicyModule {
  createPolicies(deps: PolicyDeps): SkipPolicy[] | Promise<SkipPolicy[]>;
}

export class PolicyRegistry {
  private readonly policies = new Map<string, SkipPolicy>();

  /** Adds a policy; a second policy with the same name is a startup error. */
  register(policy: SkipPolicy): void {
    if (this.policies.has(policy.name)) throw new Error(`policy '${policy.name}' is registered twice`);
    this.policies.set(policy.name, policy);
  }

  get(name: string): SkipPolicy | undefined {
    return this.policies.get(name);
  }

  names(): string[] {
    return [...this.policies.keys()];
  }

  list(): SkipPolicy[] {
    return [...this.policies.values()];
  }
}

/** A registry with the built-in policies: none, explicit, random-heads. */
export function builtinRegistry(deps: PolicyDeps): PolicyRegistry {
  const reg = new PolicyRegistry();
  reg.register(nonePolicy());
  reg.register(explicitPolicy());
  reg.register(randomHeadsPolicy(deps.defaults.k));
  return reg;
}

const NOT_PLUGINS = new Set(['policy.ts', 'registry.ts', 'none.ts', 'explicit.ts', 'random-heads.ts']);

/**
 * Imports every other `*.ts` module of this folder that exports `createPolicies` and registers what
 * it returns. A module that fails to load is reported, not fatal: its policies are simply absent.
 */
export async function discoverPolicies(reg: PolicyRegistry, deps: PolicyDeps, onError: (file: string, err: unknown) => void = () => {}): Promise<void> {
  const dir = dirname(fileURLToPath(import.meta.url));
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.test.ts') && !NOT_PLUGINS.has(f))
    .sort();
  for (const file of files) {
    try {
      const mod = (await import(pathToFileURL(join(dir, file)).href)) as Partial<PolicyModule>;
      if (typeof mod.createPolicies !== 'function') continue;
      for (const p of await mod.createPolicies(deps)) reg.register(p);
    } catch (err) {
      onError(file, err);
    }
  }
}
