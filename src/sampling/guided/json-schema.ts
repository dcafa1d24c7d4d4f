/**
 * JSON outputs as regexes for guided decoding (outlines' approach): a JSON Schema (the subset
 * below) becomes a pattern whose matches are exactly the JSON texts of that shape, laid out with at
 * most one space after `:` and `,` (so a model cannot pad forever). Objects list their properties
 * in the schema's order, required ones always, others optionally; no other keys. `{"type":
 * "json_object"}` (no schema) is any JSON object up to a nesting depth.
 *
 * Supported: type (one or a list), properties / required, items / minItems / maxItems, enum, const,
 * string minLength / maxLength / pattern, anyOf / oneOf, $ref to #, #/$defs or #/definitions
 * (a recursive one unrolled MAX_RECURSION deep, as outlines bounds it: below that the recursive
 * branch matches nothing, so optional members, empty arrays and other anyOf branches end the text),
 * and {} (any value). Anything else is refused with the keyword's path.
 */
import { escapeRegex } from './regex.ts';

export class SchemaError extends Error {}

/** At most one space around `:` and `,` and inside brackets (a model cannot pad forever). */
export const WS = '[ ]?';
const STRING_CHAR = '([^"\\\\\\x00-\\x1f]|\\\\["\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4})';
const STRING = `"${STRING_CHAR}*"`;
const INTEGER = '-?(0|[1-9][0-9]{0,15})';
const NUMBER = `${INTEGER}(\\.[0-9]{1,15})?([eE][+-]?[0-9]{1,3})?`;
const SCALAR = `(${STRING}|${NUMBER}|true|false|null)`;

/** Any JSON value nested at most `depth` containers deep. */
export function anyJson(depth: number): string {
  if (depth <= 0) return SCALAR;
  const inner = anyJson(depth - 1);
  const array = `\\[${WS}(${inner}(${WS},${WS}${inner})*)?${WS}\\]`;
  return `(${SCALAR}|${array}|${objectOf(inner)})`;
}

/** Any JSON object (OpenAI's `json_object` response format), nested at most `depth` deep. */
export function anyJsonObject(depth = 3): string {
  return objectOf(anyJson(depth - 1));
}

/** Objects whose values match `value`, any keys. */
function objectOf(value: string): string {
  const member = `${STRING}${WS}:${WS}${value}`;
  return `\\{${WS}(${member}(${WS},${WS}${member})*)?${WS}\\}`;
}

/** How often a recursive $ref is unrolled inside itself. */
export const MAX_RECURSION = 3;
/** A pattern no text matches (a recursion past its depth). */
const NEVER = '[^\\s\\S]';

const KNOWN = new Set(['type', 'properties', 'required', 'items', 'minItems', 'maxItems', 'enum', 'const', 'minLength', 'maxLength', 'pattern', 'anyOf', 'oneOf', '$ref', '$defs', 'definitions', 'title', 'description', 'additionalProperties', 'default', 'examples', '$schema', '$id', 'format', 'strict']);

/** The pattern of JSON texts that `schema` accepts. */
export function schemaToRegex(schema: unknown): string {
  const root = schema;
  const refs: string[] = [];
  const value = (s: unknown, path: string): string => {
    if (s === true || (s && typeof s === 'object' && Object.keys(s).length === 0)) return anyJson(2);
    if (!s || typeof s !== 'object' || Array.isArray(s)) throw new SchemaError(`${path}: a schema must be an object`);
    const o = s as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!KNOWN.has(k)) throw new SchemaError(`${path}.${k}: this keyword is not supported for guided decoding`);
    if (typeof o.$ref === 'string') return ref(o.$ref, path);
    if ('const' in o) return escapeRegex(JSON.stringify(o.const));
    if (Array.isArray(o.enum)) {
      if (!o.enum.length) throw new SchemaError(`${path}.enum: must not be empty`);
      return `(${o.enum.map((v) => escapeRegex(JSON.stringify(v))).join('|')})`;
    }
    const alts = o.anyOf ?? o.oneOf;
    if (alts !== undefined) {
      if (!Array.isArray(alts) || !alts.length) throw new SchemaError(`${path}.${o.anyOf ? 'anyOf' : 'oneOf'}: must be a non-empty array`);
      return `(${alts.map((a, i) => value(a, `${path}.${o.anyOf ? 'anyOf' : 'oneOf'}[${i}]`)).join('|')})`;
    }
    const types = o.type === undefined ? (o.properties ? ['object'] : o.items ? ['array'] : null) : Array.isArray(o.type) ? o.type : [o.type];
    if (!types) return anyJson(2);
    return `(${types.map((t) => typed(String(t), o, path)).join('|')})`;
  };
  const ref = (r: string, path: string): string => {
    const m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(r);
    const defs = m && root && typeof root === 'object' ? (root as Record<string, Record<string, unknown> | undefined>)[m[1]!] : undefined;
    const target = r === '#' ? root : m && defs ? defs[m[2]!] : undefined;
    if (!target) throw new SchemaError(`${path}.$ref: '${r}' does not name the root or an entry of #/$defs or #/definitions`);
    if (refs.filter((x) => x === r).length >= MAX_RECURSION) return NEVER;
    refs.push(r);
    try {
      return value(target, `${path}.$ref(${r})`);
    } finally {
      refs.pop();
    }
  };
  const count = (v: unknown, name: string, path: string): number | undefined => {
    if (v === undefined) return undefined;
    if (!Number.isInteger(v) || (v as number) < 0) throw new SchemaError(`${path}.${name}: must be a non-negative integer`);
    return v as number;
  };
  const typed = (t: string, o: Record<string, unknown>, path: string): string => {
    switch (t) {
      case 'string': {
        if (typeof o.pattern === 'string') return `"(${o.pattern.replace(/^\^/, '').replace(/\$$/, '')})"`;
        const min = count(o.minLength, 'minLength', path) ?? 0;
        const max = count(o.maxLength, 'maxLength', path);
        if (min === 0 && max === undefined) return STRING;
        return `"${STRING_CHAR}{${min},${max ?? ''}}"`;
      }
      case 'integer':
        return INTEGER;
      case 'number':
        return NUMBER;
      case 'boolean':
        return '(true|false)';
      case 'null':
        return 'null';
      case 'array': {
        const item = o.items === undefined ? anyJson(1) : value(o.items, `${path}.items`);
        const min = count(o.minItems, 'minItems', path) ?? 0;
        const max = count(o.maxItems, 'maxItems', path);
        if (max !== undefined && max < min) throw new SchemaError(`${path}.maxItems: below minItems`);
        if (max === 0) return `\\[${WS}\\]`;
        const more = `(${WS},${WS}${item}){${Math.max(0, min - 1)},${max === undefined ? '' : max - 1}}`;
        const body = `${item}${more}`;
        return `\\[${WS}${min === 0 ? `(${body})?` : body}${WS}\\]`;
      }
      case 'object': {
        const props = o.properties === undefined ? null : o.properties;
        if (props === null) return anyJsonObject();
        if (typeof props !== 'object' || Array.isArray(props)) throw new SchemaError(`${path}.properties: must be an object`);
        const required = new Set(Array.isArray(o.required) ? o.required.map(String) : []);
        const entries = Object.entries(props as Record<string, unknown>);
        for (const r of required) if (!(r in (props as object))) throw new SchemaError(`${path}.required: '${r}' is not among the properties`);
        const member = entries.map(([k, v]) => `${escapeRegex(JSON.stringify(k))}${WS}:${WS}${value(v, `${path}.properties.${k}`)}`);
        const req = entries.map(([k]) => required.has(k));
        // After a member has been written, each later one follows a comma (optional ones may be absent).
        const rest = (i: number): string => member.slice(i).map((m, j) => (req[i + j] ? `${WS},${WS}${m}` : `(${WS},${WS}${m})?`)).join('');
        // Before any member: the first one present starts the list.
        const first = (i: number): string => {
          if (i >= member.length) return '';
          if (req[i]) return `${member[i]}${rest(i + 1)}`;
          const later = first(i + 1);
          return `(${member[i]}${rest(i + 1)}${later ? `|${later}` : ''})${later && !req.slice(i + 1).some(Boolean) ? '?' : ''}`;
        };
        let body = first(0);
        if (!req.some(Boolean) && body && !body.endsWith('?')) body = `(${body})?`;
        return `\\{${WS}${body}${WS}\\}`;
      }
      default:
        throw new SchemaError(`${path}.type: '${t}' is not a JSON Schema type`);
    }
  };
  return value(schema, 'schema');
}
