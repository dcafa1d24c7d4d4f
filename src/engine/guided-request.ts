/**
 * A request's guided decoding (vLLM's guided_regex / guided_choice / guided_json / guided_grammar,
 * llama.cpp's grammar, OpenAI's response_format) as the one regex the model worker guides every candidate with
 * (sampling/guided/). Checked here, once: at most one kind, sizes, and that the pattern compiles;
 * errors name the domain field (the transports rename it). prepare-request.ts refuses any guide
 * (this one or a tool call's) beside ignoreEos.
 */
import { InvalidRequestError } from '../errors.ts';
import { GuideCheckCache } from './guide-check-cache.ts';
import { GrammarError, grammarToRegex } from '../sampling/guided/gbnf.ts';
import { anyJsonObject, SchemaError, schemaToRegex } from '../sampling/guided/json-schema.ts';
import { compileRegex, escapeRegex, matchesSomething, RegexError, type Nfa } from '../sampling/guided/regex.ts';

export interface GuideFields {
  /** Every candidate's whole text matches this regular expression. */
  guidedRegex?: string;
  /** Every candidate's text is one of these strings. */
  guidedChoice?: string[];
  /** A JSON Schema: every candidate is JSON text of that shape. */
  guidedJson?: unknown;
  /** Every candidate is a JSON object (OpenAI's `response_format: {"type": "json_object"}`). */
  jsonObject?: boolean;
  /** A GBNF grammar (llama.cpp's format): every candidate is a text its `root` rule derives. */
  guidedGrammar?: string;
}

/** The guided decoding fields, in the order a request's conflicting ones are named. */
export const GUIDE_FIELDS = ['guidedRegex', 'guidedChoice', 'guidedJson', 'guidedGrammar', 'jsonObject'] as const;

export const GUIDE_LIMITS = { maxRegexChars: 8192, maxChoices: 1024, maxChoiceChars: 4096, maxSchemaChars: 65536, maxGrammarChars: 65536 };

/** Guides checked lately (by their input), and patterns compiled lately. */
const byInput = new GuideCheckCache();
const byPattern = new GuideCheckCache();

/** The pattern that guides the request's candidates, or undefined when it asks for none. */
export function guidePattern(spec: GuideFields): string | undefined {
  const asked = GUIDE_FIELDS.filter((k) => spec[k] !== undefined && spec[k] !== false);
  if (asked.length === 0) return undefined;
  if (asked.length > 1) throw new InvalidRequestError(`set at most one of guided decoding's fields; got ${asked.join(' and ')}`, asked[1]!);
  const field = asked[0]!;
  const value = spec[field];
  const key = `${field}\u0000${typeof value === 'string' ? value : JSON.stringify(value ?? null)}`;
  return byInput.get(key, () => checkedPattern(patternOf(spec, field), field));
}

/**
 * `pattern` once it compiles (so the model worker never meets one that does not); a pattern the
 * engine cannot take (syntax, size) is a 400 naming `field`.
 */
export function checkedPattern(pattern: string, field: string): string {
  return byPattern.get(`${field}\u0000${pattern}`, () => compiledPattern(pattern, field));
}

function compiledPattern(pattern: string, field: string): string {
  let nfa: Nfa;
  try {
    nfa = compileRegex(pattern);
  } catch (err) {
    if (err instanceof RegexError) throw new InvalidRequestError(`not a pattern guided decoding can follow: ${err.message}`, field);
    throw err;
  }
  if (!matchesSomething(nfa)) throw new InvalidRequestError('the pattern matches no text at all (a schema: a required member that recurses without end, say)', field);
  return pattern;
}

/** The pattern of JSON texts of `schema`; a schema the guide cannot follow is a 400 naming `field`. */
export function schemaPattern(schema: unknown, field: string): string {
  try {
    return schemaToRegex(schema);
  } catch (err) {
    if (err instanceof SchemaError) throw new InvalidRequestError(`not a JSON Schema guided decoding can follow: ${err.message}`, field);
    throw err;
  }
}

function patternOf(spec: GuideFields, field: keyof GuideFields): string {
  switch (field) {
    case 'guidedRegex': {
      const r = spec.guidedRegex!;
      if (typeof r !== 'string' || r.length === 0 || r.length > GUIDE_LIMITS.maxRegexChars) throw new InvalidRequestError(`guidedRegex must be a regular expression of 1 to ${GUIDE_LIMITS.maxRegexChars} characters`, field);
      return r;
    }
    case 'guidedChoice': {
      const c = spec.guidedChoice!;
      if (!Array.isArray(c) || c.length === 0 || c.length > GUIDE_LIMITS.maxChoices) throw new InvalidRequestError(`guidedChoice must list 1 to ${GUIDE_LIMITS.maxChoices} strings`, field);
      c.forEach((x, i) => {
        if (typeof x !== 'string' || x.length === 0 || x.length > GUIDE_LIMITS.maxChoiceChars) throw new InvalidRequestError(`guidedChoice[${i}] must have 1 to ${GUIDE_LIMITS.maxChoiceChars} characters`, `guidedChoice[${i}]`);
      });
      return c.map(escapeRegex).join('|');
    }
    case 'guidedJson': {
      let schema = spec.guidedJson;
      if (typeof schema === 'string') {
        try {
          schema = JSON.parse(schema);
        } catch (err) {
          throw new InvalidRequestError(`guidedJson is not valid JSON: ${(err as Error).message}`, field);
        }
      }
      if (JSON.stringify(schema ?? null).length > GUIDE_LIMITS.maxSchemaChars) throw new InvalidRequestError(`guidedJson has more than ${GUIDE_LIMITS.maxSchemaChars} characters`, field);
      return schemaPattern(schema, field);
    }
    case 'guidedGrammar': {
      const g = spec.guidedGrammar!;
      if (typeof g !== 'string' || g.trim().length === 0 || g.length > GUIDE_LIMITS.maxGrammarChars) throw new InvalidRequestError(`guidedGrammar must be a GBNF grammar of 1 to ${GUIDE_LIMITS.maxGrammarChars} characters`, field);
      try {
        return grammarToRegex(g);
      } catch (err) {
        if (err instanceof GrammarError) throw new InvalidRequestError(`not a GBNF grammar guided decoding can follow: ${err.message}`, field);
        throw err;
      }
    }
    default:
      return anyJsonObject();
  }
}
