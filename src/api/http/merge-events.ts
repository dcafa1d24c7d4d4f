/**
 * Interleaves several async streams as their items arrive, each item tagged with the index of the
 * stream it came from (a batch of prompts streams all its requests' deltas in one response). Ends
 * when every stream has ended; the first stream error ends it with that error.
 */
export async function* mergeEvents<T>(streams: readonly AsyncIterable<T>[]): AsyncGenerator<[number, T]> {
  const iters = streams.map((s) => s[Symbol.asyncIterator]());
  const next = (k: number) => iters[k]!.next().then((r) => ({ k, r }));
  const pending = new Map(iters.map((_, k) => [k, next(k)]));
  try {
    while (pending.size > 0) {
      const { k, r } = await Promise.race(pending.values());
      if (r.done) {
        pending.delete(k);
        continue;
      }
      pending.set(k, next(k));
      yield [k, r.value];
    }
  } finally {
    // Stopped early (an error, or the consumer broke off): let the other streams clean up, and
    // never leave a read that fails later unhandled.
    for (const [k, p] of pending) {
      p.catch(() => {});
      void iters[k]!.return?.()?.catch(() => {});
    }
  }
}
