/**
 * Reading a refused body before answering. A body over the limit is refused by its Content-Length,
 * before it is read; but a client that asked `Connection: close` has the socket closed right after
 * the 413 while its body is still arriving, and a close with unread data sends a TCP reset that can
 * discard the 413 before the client reads it (it sees EPIPE instead: 3 in 30 tries of an 8 MiB body
 * on loopback). So the body is read and dropped first, as servers do with a lingering close,
 * within bounds (bytes and time) so that refusing stays cheap; past them the answer goes out anyway.
 */

/** At most this many bytes, and this long, are read from a refused body before the answer. */
export const DRAIN_LIMITS = { maxBytes: 16 * 1024 * 1024, maxMs: 1000 };

/** Reads and drops a request body (its stream) up to the limits; never throws. */
export async function drainRefusedBody(body: ReadableStream<Uint8Array> | null, limits = DRAIN_LIMITS): Promise<void> {
  if (!body || body.locked) return;
  const reader = body.getReader();
  const timer = setTimeout(() => void reader.cancel().catch(() => {}), limits.maxMs);
  let read = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      read += value.byteLength;
      if (read > limits.maxBytes) break;
    }
  } catch {
    // the client went away or the time ran out: answer anyway
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}
