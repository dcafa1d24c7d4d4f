/**
 * A dedicated PostgreSQL connection that LISTENs for version changes and reconnects with backoff
 * when it drops. After every (re)connection it reports a change, since notifications sent while it
 * was away are lost; the watcher's polling covers the time it is down.
 */
import pg from 'pg';
import { VERSIONS_CHANNEL } from './postgres-versions.ts';

/** Listens until the returned function is called; `onChange` on each notification and (re)connect. */
export function listenVersions(url: string, onChange: () => void, onError: (e: Error) => void): () => void {
  let stopped = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  let backoffMs = 500;

  const connect = () => {
    if (stopped) return;
    const c = new pg.Client({ connectionString: url });
    client = c;
    let failed = false;
    const fail = (e: Error) => {
      if (failed || stopped) return;
      failed = true;
      onError(new Error(`version listener: ${e.message}`));
      void c.end().catch(() => undefined);
      retry = setTimeout(connect, backoffMs);
      retry.unref();
      backoffMs = Math.min(backoffMs * 2, 30_000);
    };
    c.on('error', fail);
    c.on('end', () => fail(new Error('connection ended')));
    c.on('notification', (n) => {
      if (n.channel === VERSIONS_CHANNEL) onChange();
    });
    c.connect()
      .then(() => c.query(`LISTEN ${VERSIONS_CHANNEL}`))
      .then(() => {
        backoffMs = 500;
        onChange();
      })
      .catch(fail);
  };

  connect();
  return () => {
    stopped = true;
    clearTimeout(retry);
    void client?.end().catch(() => undefined);
  };
}
