/**
 * Hot reload: brings the served model and selector to the versions asked for (named by an operator,
 * else promoted in the store, else the `--model` directory's files) without a restart and without
 * failing a request. A new model opens a new engine in the background and swaps it in (the old one
 * finishes its requests on the old version); a selector-only change rebuilds just the policies.
 * Reloads run one at a time. `follow` subscribes to the store's promotions, so replicas sharing a
 * store reload by themselves when any of them (or the CLI) promotes a version.
 */
import type { LocalEngine } from '../engine/local-engine.ts';
import type { ModelSlot } from '../engine/model-slot.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { PromotedVersions, RequestStore } from '../store/types.ts';
import { promotedKey } from '../store/versions.ts';
import { sameVersion, type ServedVersions, versionLabel } from './served-versions.ts';
import { chooseVersions, resolveTarget, type BaseModel, type ChosenVersions, type NamedVersions, type ServingTarget } from './serving-target.ts';
import { pruneCache } from './version-cache.ts';

/** What a reload did: which part changed, and the versions before and after. */
export interface ReloadResult {
  changed: 'model' | 'selector' | 'none';
  versions: ServedVersions;
  previous: ServedVersions;
}

export interface ReloaderOptions {
  store: RequestStore;
  slot: ModelSlot;
  base: BaseModel;
  cacheDir: string;
  /** Opens an engine on a target with the server's settings, metrics and store. */
  open(target: ServingTarget): Promise<LocalEngine>;
  metrics: Metrics;
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/** Sets the `skipserve_model_info` gauge to the versions serving now (the previous series is removed). */
export function showServing(metrics: Metrics, v: ServedVersions): void {
  metrics.modelInfo.reset();
  metrics.modelInfo.set({ model_version: versionLabel(v.model), selector_version: versionLabel(v.selector) }, 1);
}

/** The served versions in log and API form. */
export function describeVersions(v: ServedVersions): { model: string; selector: string } {
  return { model: versionLabel(v.model), selector: versionLabel(v.selector) };
}

/** The target the server starts on: the promoted versions when `follow`, else the `--model` directory. */
export async function startupTarget(store: RequestStore, base: BaseModel, cacheDir: string, follow: boolean): Promise<{ target: ServingTarget; promoted: PromotedVersions | null }> {
  const promoted = follow ? await store.versions.promoted() : null;
  return { target: await resolveTarget(store, base, await chooseVersions(store, {}, promoted), cacheDir), promoted };
}

export class VersionReloader {
  private chain: Promise<unknown> = Promise.resolve();
  private unwatch: (() => void) | undefined;
  private seenKey: string | null = null;
  constructor(private readonly o: ReloaderOptions) {
    const v = o.slot.current().versions;
    this.remember(v, v);
  }

  /** Loads the named versions (a kind not named stays), or without names the promoted ones (else `--model`'s files); one reload at a time. */
  reload(named: NamedVersions = {}): Promise<ReloadResult> {
    const run = this.chain.then(async () => {
      const promoted = await this.o.store.versions.promoted();
      return this.apply(await chooseVersions(this.o.store, named, promoted), named);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Reloads whenever the store's promoted versions change (from now on; `startedOn` is what the
   * server started with, so the watch's first call changes nothing). Failures are logged and counted;
   * the server keeps serving what it has.
   */
  follow(startedOn: PromotedVersions | null): void {
    this.seenKey = startedOn ? promotedKey(startedOn) : null;
    this.unwatch = this.o.store.versions.watch((promoted) => {
      const key = promotedKey(promoted);
      if (key === this.seenKey) return;
      this.seenKey = key;
      const run = this.chain.then(async () => this.apply(await chooseVersions(this.o.store, {}, promoted), {}));
      this.chain = run.catch((err: Error) => this.o.log.error({ err: err.message }, 'reload after a promotion failed; still serving the previous versions'));
    });
  }

  /**
   * Opens a fresh engine on the versions `dead` serves and swaps it in (after any reload in
   * progress): for an engine whose runtime died on its own. Nothing happens when `dead` is no longer
   * the current engine (a reload replaced it meanwhile).
   */
  restart(dead: LocalEngine): Promise<boolean> {
    const run = this.chain.then(async () => {
      if (this.o.slot.current() !== dead) return false;
      const v = dead.versions;
      this.o.slot.replace(await this.o.open({ model: { dir: dead.modelDir, version: v.model }, routerDir: dead.routerDir, selector: v.selector }));
      return true;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Stops following promotions and waits for a reload in progress. */
  async stop(): Promise<void> {
    this.unwatch?.();
    await this.chain;
  }

  private async apply(chosen: ChosenVersions, named: NamedVersions): Promise<ReloadResult> {
    const { slot, metrics, log } = this.o;
    try {
      const current = slot.current();
      const target = await resolveTarget(this.o.store, this.o.base, chosen, this.o.cacheDir, current);
      const previous = current.versions;
      let changed: ReloadResult['changed'] = 'none';
      if (!sameVersion(previous.model, target.model.version)) {
        slot.replace(await this.o.open(target));
        changed = 'model';
      } else if (!sameVersion(previous.selector, target.selector)) {
        await current.swapSelector(target.routerDir, target.selector);
        changed = 'selector';
      }
      const versions = slot.current().versions;
      metrics.reloads.inc({ outcome: changed });
      if (changed !== 'none') {
        showServing(metrics, versions);
        this.remember(versions, previous);
        log.info({ changed, ...describeVersions(versions), previous: describeVersions(previous), named }, 'reloaded');
      }
      return { changed, versions, previous };
    } catch (err) {
      metrics.reloads.inc({ outcome: 'error' });
      throw err;
    }
  }

  /** Keeps the served and previous versions' cache folders, removes older ones. */
  private remember(now: ServedVersions, before: ServedVersions): void {
    try {
      pruneCache(this.o.cacheDir, 'model', [now.model.hash, before.model.hash]);
      pruneCache(this.o.cacheDir, 'selector', [now.selector?.hash, before.selector?.hash].filter((h): h is string => h !== undefined));
    } catch {
      // Pruning is housekeeping: a failure leaves old folders behind, nothing else.
    }
  }
}
