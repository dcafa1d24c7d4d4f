/**
 * A raw HTTP/1.1 client over a TCP socket, so the fuzzer can send exactly the bytes it generated:
 * invalid UTF-8, wrong or contradictory headers, truncated bodies. Each exchange is bounded by a
 * timeout; a response that does not arrive in time is reported as a hang.
 */
import { connect } from 'node:net';

export type RawOutcome =
  | { kind: 'response'; status: number; headers: Record<string, string>; body: Buffer; ms: number }
  | { kind: 'closed'; ms: number }
  | { kind: 'timeout'; ms: number }
  | { kind: 'error'; message: string; ms: number };

export interface RawRequest {
  method: string;
  path: string;
  /** Header lines as sent (name, value); no Host / Connection added unless listed. */
  headers: [string, string][];
  body: Buffer;
  /** Stop writing after this many body bytes (a client that dies mid-body). */
  truncateBodyAt?: number;
}

/** Serializes a request to bytes (Host and Connection: close first, then the given headers). */
export function requestBytes(host: string, r: RawRequest): Buffer {
  const head = [`${r.method} ${r.path} HTTP/1.1`, `Host: ${host}`, 'Connection: close', ...r.headers.map(([k, v]) => `${k}: ${v}`)].join('\r\n') + '\r\n\r\n';
  const body = r.truncateBodyAt !== undefined ? r.body.subarray(0, r.truncateBodyAt) : r.body;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

function parseHead(buf: Buffer): { status: number; headers: Record<string, string>; bodyStart: number } | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? NaN);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status, headers, bodyStart: end + 4 };
}

/** Decodes a chunked body as far as it goes (tolerant of a missing terminator). */
function dechunk(b: Buffer): { body: Buffer; complete: boolean } {
  const parts: Buffer[] = [];
  let i = 0;
  while (i < b.length) {
    const eol = b.indexOf('\r\n', i);
    if (eol < 0) break;
    const size = parseInt(b.subarray(i, eol).toString('latin1'), 16);
    if (!Number.isFinite(size)) break;
    if (size === 0) return { body: Buffer.concat(parts), complete: true };
    parts.push(b.subarray(eol + 2, Math.min(b.length, eol + 2 + size)));
    i = eol + 2 + size + 2;
  }
  return { body: Buffer.concat(parts), complete: false };
}

/** Bytes written at a time by `exchange`. */
const WRITE_PIECE = 64 * 1024;

/** Sends `bytes` to host:port and reads one response; never takes longer than `timeoutMs`. */
export function exchange(host: string, port: number, bytes: Buffer, timeoutMs: number, halfClose = false): Promise<RawOutcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const sock = connect({ host, port });
    const finish = (o: RawOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(o);
    };
    const complete = (final: boolean) => {
      const all = Buffer.concat(chunks);
      const head = parseHead(all);
      if (!head) {
        if (final) finish({ kind: 'closed', ms: performance.now() - t0 });
        return;
      }
      const raw = all.subarray(head.bodyStart);
      if (/chunked/i.test(head.headers['transfer-encoding'] ?? '')) {
        const d = dechunk(raw);
        if (d.complete || final) finish({ kind: 'response', status: head.status, headers: head.headers, body: d.body, ms: performance.now() - t0 });
        return;
      }
      const len = head.headers['content-length'] !== undefined ? Number(head.headers['content-length']) : NaN;
      if ((Number.isFinite(len) && raw.length >= len) || final) {
        finish({ kind: 'response', status: head.status, headers: head.headers, body: Number.isFinite(len) ? raw.subarray(0, len) : raw, ms: performance.now() - t0 });
      }
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', ms: performance.now() - t0 }), timeoutMs);
    // Written in pieces, and no further once the server has answered: a server that refuses a body
    // by its Content-Length (413) answers before reading it and may close the connection, and a
    // client that keeps writing then gets EPIPE before it reads the answer (curl reads as it writes).
    sock.on('connect', async () => {
      for (let at = 0; at < bytes.length && !settled && chunks.length === 0; at += WRITE_PIECE) {
        if (!sock.write(bytes.subarray(at, at + WRITE_PIECE))) await new Promise((r) => sock.once('drain', r).once('close', r));
        else await new Promise((r) => setImmediate(r)); // lets an early answer arrive between pieces
      }
      if (halfClose && !settled && chunks.length === 0) sock.end();
    });
    sock.on('data', (b: Buffer) => {
      chunks.push(b);
      complete(false);
    });
    sock.on('end', () => complete(true));
    sock.on('close', () => complete(true));
    sock.on('error', (e) => (chunks.length ? complete(true) : finish({ kind: 'error', message: e.message, ms: performance.now() - t0 })));
  });
}
