/**
 * Renders an SVG figure to PNG with librsvg's `rsvg-convert` (Debian package librsvg2-bin), for
 * figures generated offline and committed; nothing at serving or test time needs it.
 */
import { spawnSync } from 'node:child_process';

/** Writes `pngPath` from `svgPath`; returns null on success, else why not (e.g. the tool is missing). */
export function svgToPng(svgPath: string, pngPath: string, width = 1640): string | null {
  const r = spawnSync('rsvg-convert', ['--width', String(width), '--background-color', 'white', '--output', pngPath, svgPath], { encoding: 'utf8' });
  if (r.error) return (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'rsvg-convert not found (apt-get install librsvg2-bin)' : r.error.message;
  if (r.status !== 0) return `rsvg-convert failed: ${r.stderr.trim()}`;
  return null;
}
