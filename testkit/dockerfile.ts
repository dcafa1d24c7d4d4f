/**
 * What deploy/Dockerfile's runtime stage (the served image) copies: the COPY sources of the stage
 * named `runtime`, repository-relative (`/app/node_modules` from the deps stage as `node_modules`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The runtime stage's COPY sources, e.g. ['node_modules', 'package.json', 'bin', 'src', ...]. */
export function runtimeCopies(root: string): string[] {
  const text = readFileSync(join(root, 'deploy/Dockerfile'), 'utf8');
  const start = text.search(/^FROM \S+ AS runtime$/m);
  if (start < 0) throw new Error('deploy/Dockerfile has no stage named runtime');
  const next = text.slice(start + 1).search(/^FROM /m);
  const stage = next < 0 ? text.slice(start) : text.slice(start, start + 1 + next);
  return [...stage.matchAll(/^COPY\s+(?:--from=\S+\s+)?(.+)\s+(\S+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/).map((src) => (src.startsWith('/app/') ? src.slice(5) : src)));
}
