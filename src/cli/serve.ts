/**
 * `skipserve serve`: starts the HTTP + gRPC server on a model (default models/default). Config
 * from flags, SKIPSERVE_* env vars or --config FILE. SIGTERM/SIGINT: readiness turns false, the
 * in-flight requests finish (up to --drain-timeout seconds), then the process exits.
 */
import pino from 'pino';
import { configHelp, loadConfig } from '../config.ts';
import { startServer } from '../api/server.ts';

/** Runs the server until SIGTERM/SIGINT. */
export async function run(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`usage: skipserve serve [options]\n\n${configHelp()}`);
    return;
  }
  const config = loadConfig(argv);
  const log = pino({ level: config.logLevel });
  const server = await startServer(config, log);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      log.info({ signal }, 'shutting down');
      server.drain().then(
        () => {
          log.info('drained; bye');
          resolve();
        },
        (err) => {
          log.error({ err }, 'shutdown failed');
          process.exitCode = 1;
          resolve();
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
