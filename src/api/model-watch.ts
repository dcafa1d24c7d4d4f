/**
 * Keeps the server serving when its model's worker dies on its own (an uncaught error or an exit
 * inside the worker; a native crash ends the whole process, and the orchestrator restarts that).
 * The dead engine fails what it holds and refuses new requests with 503 and Retry-After
 * (engine.ts); readiness turns false ('model restarting') and the reloader opens a fresh engine on
 * the same versions and swaps it in. At most `maxRestarts` within `windowMs`: past that, or when
 * reopening fails, the server gives up on the model: /health and /ready answer 503 and gRPC health
 * says NOT_SERVING, so a liveness probe restarts the process.
 */
import type { LocalEngine } from '../engine/local-engine.ts';
import type { ModelSlot } from '../engine/model-slot.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { WorkerHungError } from '../model/runner.ts';

export interface ModelWatchOptions {
  slot: ModelSlot;
  /** Opens a fresh engine on the versions `dead` serves and swaps it in (VersionReloader.restart). */
  restart(dead: LocalEngine): Promise<boolean>;
  metrics: Metrics;
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Restarts allowed within `windowMs` (default 3 in 10 minutes). */
  maxRestarts?: number;
  windowMs?: number;
  /** Called when readiness or health changes (gRPC health watchers). */
  onChange?(): void;
}

export class ModelWatch {
  private restarting = false;
  private gaveUp: string | null = null;
  private restarts: number[] = [];

  constructor(private readonly o: ModelWatchOptions) {}

  /** Watches an engine's runtime from now on; returns it. */
  watch(model: LocalEngine): LocalEngine {
    model.engine.onFailure((err) => this.died(model, err));
    return model;
  }

  /** 'model restarting' while a fresh engine opens, the reason the server gave up, else null. */
  notReadyReason(): string | null {
    return this.gaveUp ?? (this.restarting ? 'model restarting' : null);
  }

  /** Why the server gave up on its model (it cannot serve until the process restarts), else null. */
  unhealthyReason(): string | null {
    return this.gaveUp;
  }

  private died(model: LocalEngine, err: Error): void {
    if (this.o.slot.current() !== model || this.gaveUp) return; // a replaced engine that was retiring
    const cause = err instanceof WorkerHungError ? 'hang' : 'crash';
    const now = Date.now();
    const windowMs = this.o.windowMs ?? 600_000;
    this.restarts = this.restarts.filter((t) => now - t < windowMs);
    if (this.restarts.length >= (this.o.maxRestarts ?? 3)) {
      this.giveUp(`the model runtime died ${this.restarts.length + 1} times within ${Math.round(windowMs / 1000)} s (last: ${err.message})`, 'gave_up', cause);
      return;
    }
    this.restarts.push(now);
    this.restarting = true;
    this.o.onChange?.();
    this.o.log.error({ err: err.message, restart: this.restarts.length }, 'model runtime died; reopening the model');
    const t0 = performance.now();
    this.o.restart(model).then(
      (swapped) => {
        this.restarting = false;
        if (swapped) {
          this.o.metrics.modelRestarts.inc({ outcome: 'ok', cause });
          this.o.log.info({ ms: Math.round(performance.now() - t0) }, 'model reopened; serving again');
        }
        this.o.onChange?.();
      },
      (e: Error) => {
        this.restarting = false;
        this.giveUp(`reopening the model after its runtime died failed: ${e.message}`, 'error', cause);
      },
    );
  }

  private giveUp(reason: string, outcome: 'gave_up' | 'error', cause: 'crash' | 'hang'): void {
    this.gaveUp = reason;
    this.o.metrics.modelRestarts.inc({ outcome, cause });
    this.o.log.error({ reason }, 'giving up on the model: /health answers 503 until the process restarts');
    this.o.onChange?.();
  }
}
