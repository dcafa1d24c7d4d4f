/**
 * `skipserve versions list|add|promote|rollback`: manages the model and selector versions in the
 * request store. `add` registers a model directory (its checkpoint files) or a selector (selector.onnx
 * and the router files of a directory) with its content hash and, unless --by-uri, its files, so every
 * replica can load it; `promote` makes it the one served (servers following versions reload by
 * themselves); `rollback` returns to the version promoted before. The store is --store, else
 * SKIPSERVE_STORE, else the server config's (SKIPSERVE_CONFIG), else the default file.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { describeStore, openStore } from '../store/open-store.ts';
import type { VersionKind, VersionRecord } from '../store/types.ts';
import { versionFromDir } from '../versions/version-from-dir.ts';

const USAGE = `usage: skipserve versions <command> [options]

  list [--kind model|selector] [--json]          every version, newest first
  add model DIR [--name NAME] [--by-uri] [--promote]
                                                 register a checkpoint directory (config, weights, tokenizer)
  add selector DIR [--name NAME] [--by-uri] [--promote]
                                                 register DIR's selector.onnx and router/*.json
  promote model|selector NAME                    serve NAME (servers following versions reload by themselves)
  rollback model|selector                        return to the version promoted before the current one

  --store SPEC   SQLite file, postgres:// URL (default: SKIPSERVE_STORE, the server config's, .skipserve/store.sqlite)
  --by-uri       store no files: every replica must read DIR itself (a shared volume)
`;

function kindArg(raw: string | undefined): VersionKind {
  if (raw !== 'model' && raw !== 'selector') throw new Error(`the kind must be model or selector, got '${raw ?? ''}'\n${USAGE}`);
  return raw;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function table(versions: VersionRecord[]): string {
  const rows = versions.map((v) => [v.kind, v.name, v.status, v.hash.slice(0, 19), new Date(v.createdAt).toISOString(), v.promotedAt ? new Date(v.promotedAt).toISOString() : '-', v.uri]);
  const head = ['kind', 'name', 'status', 'hash', 'created', 'promoted', 'uri'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** Runs one versions command. */
export async function run(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { store: { type: 'string' }, kind: { type: 'string' }, name: { type: 'string' }, 'by-uri': { type: 'boolean' }, promote: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  const [cmd, ...rest] = positionals;
  if (values.help || !cmd) {
    out(USAGE);
    if (!values.help) throw new Error('a command is required');
    return;
  }
  const spec = loadConfig(values.store ? ['--store', values.store] : []).store;
  const store = await openStore(spec);
  try {
    if (store.engine === 'off') throw new Error('the store is off (--store off): there are no versions');
    switch (cmd) {
      case 'list': {
        const versions = await store.versions.list(values.kind === undefined ? undefined : kindArg(values.kind));
        out(values.json ? `${JSON.stringify(versions, null, 1)}\n` : versions.length ? `${table(versions)}\n` : `no versions in ${describeStore(spec)}\n`);
        break;
      }
      case 'add': {
        const kind = kindArg(rest[0]);
        if (!rest[1]) throw new Error(`add ${kind} needs a directory\n${USAGE}`);
        const { version, bytes } = await versionFromDir(kind, rest[1], { name: values.name, byUri: values['by-uri'] ?? false });
        const v = await store.versions.add(version);
        out(`${kind} version ${v.name}: ${v.hash} (${mb(bytes)})${version.files ? `, ${version.files.length} files stored` : `, loaded from ${v.uri}`}; status ${v.status}\n`);
        if (values.promote) out(`promoted ${kind} version ${(await store.versions.promote(kind, v.name)).name}\n`);
        break;
      }
      case 'promote': {
        const kind = kindArg(rest[0]);
        if (!rest[1]) throw new Error(`promote ${kind} needs a version name\n${USAGE}`);
        const v = await store.versions.promote(kind, rest[1]);
        out(`promoted ${kind} version ${v.name} (${v.hash})\n`);
        break;
      }
      case 'rollback': {
        const kind = kindArg(rest[0]);
        const v = await store.versions.rollback(kind);
        out(`rolled back: ${kind} version ${v.name} (${v.hash}) is promoted again\n`);
        break;
      }
      default:
        throw new Error(`unknown versions command '${cmd}'\n${USAGE}`);
    }
  } finally {
    await store.close();
  }
}
