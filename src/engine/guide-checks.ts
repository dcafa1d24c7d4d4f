/**
 * A request's guides, checked: the pattern of its tool choice (tool-calls.ts) and of its guided
 * decoding fields (guided-request.ts), or the error each raised, in a form that crosses a thread
 * boundary. The guide checker (guide-checker.ts) runs this in its worker; prepareRequest takes
 * the result instead of checking on the event loop.
 */
import { InvalidRequestError } from '../errors.ts';
import { GUIDE_FIELDS, guidePattern, type GuideFields } from './guided-request.ts';
import { toolGuide, type ToolFields } from './tool-calls.ts';

/** The fields a check reads (plain JSON). */
export type GuideCheckFields = GuideFields & ToolFields;

/** One check's outcome: its pattern (null: none asked), or the error with its field and code. */
export type Checked = { pattern: string | null } | { error: { message: string; field: string | null; code: string | null } };

/** Both checks of a request. */
export interface CheckedGuides {
  tool: Checked;
  guide: Checked;
}

/** The fields a request's checks read; null when it asks for no guide and no tool choice. */
export function guideCheckFields(spec: GuideCheckFields): GuideCheckFields | null {
  const out: Record<string, unknown> = {};
  for (const k of [...GUIDE_FIELDS, 'tools', 'toolChoice', 'parallelToolCalls', 'toolParser'] as const) if (spec[k] !== undefined) out[k] = spec[k];
  return GUIDE_FIELDS.some((k) => out[k] !== undefined && out[k] !== false) || out.tools !== undefined || out.toolChoice !== undefined ? (out as GuideCheckFields) : null;
}

const run = (f: () => string | null | undefined): Checked => {
  try {
    return { pattern: f() ?? null };
  } catch (err) {
    if (err instanceof InvalidRequestError) return { error: { message: err.message, field: err.field, code: err.code } };
    throw err;
  }
};

/** Runs both checks. */
export function checkGuides(fields: GuideCheckFields): CheckedGuides {
  return { tool: run(() => toolGuide(fields)), guide: run(() => guidePattern(fields)) };
}

/** The pattern a check found, or its error thrown again. */
export function patternOf(c: Checked): string | null {
  if ('error' in c) throw new InvalidRequestError(c.error.message, c.error.field, c.error.code);
  return c.pattern;
}
