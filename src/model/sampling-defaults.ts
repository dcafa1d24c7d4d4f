/**
 * A checkpoint's own sampling defaults: the fields of its generation_config.json that vLLM's
 * `--generation-config auto` reads (temperature, top_p, top_k, min_p, repetition_penalty). A request
 * that leaves one of them out gets the model's value instead of the OpenAI default, as vLLM serves
 * it; `--generation-config none` turns them off. Checked at load, so a bad value stops startup
 * naming the field.
 */

/** Sampling defaults from generation_config.json, in domain terms (absent: the OpenAI default). */
export interface SamplingDefaults {
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
}

const FIELDS: [wire: string, key: keyof SamplingDefaults, ok: (x: number) => boolean, range: string][] = [
  ['temperature', 'temperature', (x) => x >= 0, '>= 0'],
  ['top_p', 'topP', (x) => x > 0 && x <= 1, 'in (0, 1]'],
  ['top_k', 'topK', (x) => Number.isInteger(x) && x >= -1, 'an integer >= -1'],
  ['min_p', 'minP', (x) => x >= 0 && x <= 1, 'in [0, 1]'],
  ['repetition_penalty', 'repetitionPenalty', (x) => x > 0, '> 0'],
];

/** Reads the sampling defaults of a parsed generation_config.json; throws naming a bad field. */
export function parseSamplingDefaults(gen: Record<string, unknown>): SamplingDefaults {
  const out: SamplingDefaults = {};
  for (const [wire, key, ok, range] of FIELDS) {
    const v = gen[wire];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new Error(`generation_config.json: ${wire} must be a number ${range} (got ${JSON.stringify(v)})`);
    out[key] = v;
  }
  return out;
}

/** The defaults as the generation config names them (for /v1/models and the startup log). */
export function samplingDefaultsToWire(d: SamplingDefaults): Record<string, number> {
  return Object.fromEntries(FIELDS.filter(([, key]) => d[key] !== undefined).map(([wire, key]) => [wire, d[key]!]));
}
