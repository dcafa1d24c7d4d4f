/**
 * Background responses (the Responses API's `background: true`): the request runs on after its
 * POST has been answered, `queued`, with the response's id. While it runs, GET /v1/responses/{id}
 * answers from here (`in_progress`); once it completes, its record (the response as answered) is
 * in the request store, queued by the engine before the result resolves, so GET finds it there.
 * A background response that fails or is cancelled leaves no record: its last state stays here
 * (the last MAX_ENDED of them, until the server restarts). Cancel aborts the request in the engine.
 */
import { asSkipserveError } from '../errors.ts';
import type { GenerationResult } from '../engine/types.ts';

/** Failed and cancelled background responses kept for GET. */
const MAX_ENDED = 1000;

type ResponseObject = Record<string, unknown>;

interface Running {
  /** The response while it runs (status in_progress, no output). */
  object: ResponseObject;
  /** Its conversation's input items. */
  input: unknown[];
  abort: AbortController;
  /** Settles once the request has ended (completed, failed or cancelled). */
  settled: Promise<void>;
  cancelRequested: boolean;
}

export class BackgroundResponses {
  private readonly running = new Map<string, Running>();
  private readonly ended = new Map<string, { object: ResponseObject; input: unknown[] }>();

  /** `onRunning`: told how many run after each start and end (the metrics gauge). */
  constructor(private readonly onRunning: (count: number) => void = () => {}) {}

  /** Follows a submitted background request until it ends. */
  start(id: string, inProgress: ResponseObject, input: unknown[], abort: AbortController, result: Promise<GenerationResult>): void {
    const entry: Running = { object: inProgress, input, abort, cancelRequested: false, settled: Promise.resolve() };
    entry.settled = result.then(
      () => {
        this.running.delete(id);
        this.onRunning(this.running.size);
      },
      (err: unknown) => {
        this.running.delete(id);
        this.onRunning(this.running.size);
        const e = asSkipserveError(err);
        const status = entry.cancelRequested ? 'cancelled' : 'failed';
        this.end(id, { object: { ...inProgress, status, ...(status === 'failed' ? { error: { code: e.code ?? 'server_error', message: e.message } } : {}) }, input });
      },
    );
    this.running.set(id, entry);
    this.onRunning(this.running.size);
  }

  /** A running, failed or cancelled background response with its input items; undefined when it is not here (look in the store). */
  get(id: string): { object: ResponseObject; input: unknown[] } | undefined {
    return this.running.get(id) ?? this.ended.get(id);
  }

  /** Drops a failed or cancelled one (DELETE); false when none is kept under `id`. */
  forget(id: string): boolean {
    return this.ended.delete(id);
  }

  /** Whether the response is still running. */
  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  /**
   * Cancels a running background response and resolves once it has ended: its state then (cancelled,
   * or completed when it finished first: null, read it from the store). Undefined when not running.
   */
  async cancel(id: string): Promise<ResponseObject | null | undefined> {
    const entry = this.running.get(id);
    if (!entry) return this.ended.get(id)?.object;
    entry.cancelRequested = true;
    entry.abort.abort();
    await entry.settled;
    return this.ended.get(id)?.object ?? null;
  }

  private end(id: string, ended: { object: ResponseObject; input: unknown[] }): void {
    this.ended.set(id, ended);
    if (this.ended.size > MAX_ENDED) this.ended.delete(this.ended.keys().next().value!);
  }
}
