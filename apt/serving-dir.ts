/**
 * The directory an APT round starts from when it follows the store (`apt round --model promoted`):
 * what the replicas serve, the promoted model version's files with the promoted selector version's
 * files (else the base directory's router files) laid over them, materialized once per pair of
 * versions under a cache directory.
 */
import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { selectorFiles } from '../src/store/model-hash.ts';
import type { RequestStore } from '../src/store/types.ts';
import { startupTarget } from '../src/versions/reloader.ts';

export async function servingDir(store: RequestStore, baseDir: string, cache: string): Promise<string> {
  const { target } = await startupTarget(store, { dir: baseDir, name: basename(baseDir) }, cache, true);
  if (target.routerDir === target.model.dir) return target.model.dir;
  const dir = join(cache, `serving-${target.model.version.hash.slice(7, 19)}-${target.selector?.hash.slice(7, 19) ?? 'base'}`);
  if (existsSync(dir)) return dir;
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  cpSync(target.model.dir, tmp, { recursive: true });
  for (const f of selectorFiles(target.routerDir)) {
    mkdirSync(dirname(join(tmp, f)), { recursive: true });
    cpSync(join(target.routerDir, f), join(tmp, f));
  }
  renameSync(tmp, dir);
  return dir;
}
