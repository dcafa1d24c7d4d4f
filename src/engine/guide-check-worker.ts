/**
 * The guide checker's worker thread: turns a request's guide and tool fields into the patterns
 * that guide its candidates (schema or grammar to pattern, then the pattern's automaton, which
 * takes up to a few hundred milliseconds for a large one), so that work never runs on the event
 * loop. Answers `{ id, fields }` with `{ id, checked }` (each pattern, or the error it raised).
 */
import { parentPort } from 'node:worker_threads';
import { checkGuides, type GuideCheckFields } from './guide-checks.ts';

if (parentPort) {
  const port = parentPort;
  port.on('message', (call: { id: number; fields: GuideCheckFields }) => port.postMessage({ id: call.id, checked: checkGuides(call.fields) }));
}
