/** What the driver asks the server before loading it: the model id and which policies are usable. */
import { httpHeaders, type LoadConfig } from '../shared/config.ts';

export interface PolicyStatus {
  name: string;
  available: boolean;
  reason?: string;
}

export interface Target {
  model: string;
  policies: PolicyStatus[];
}

/** GET /v1/models: the first model's id and its policy list (skipserve's `skip.policies` extension). */
export async function fetchTarget(cfg: LoadConfig): Promise<Target> {
  let res: Response;
  try {
    res = await fetch(`${cfg.baseUrl}/v1/models`, { headers: httpHeaders(cfg), signal: AbortSignal.timeout(15000) });
  } catch (err) {
    throw new Error(`cannot reach ${cfg.baseUrl}/v1/models (${(err as Error).message}): is the server running? (--base-url)`);
  }
  if (!res.ok) throw new Error(`GET ${cfg.baseUrl}/v1/models answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  const body = (await res.json()) as { data?: Array<Record<string, any>>; policies?: unknown };
  const first = body.data?.[0];
  if (!first) throw new Error('GET /v1/models listed no model');
  const raw = (first.skip_policies ?? first.policies ?? []) as Array<Record<string, unknown>>;
  const policies = raw.map((p) => ({
    name: String(p.name),
    available: p.available !== false,
    reason: typeof p.unavailable_reason === 'string' ? p.unavailable_reason : typeof p.reason === 'string' ? p.reason : undefined,
  }));
  return { model: cfg.model || String(first.id), policies };
}
