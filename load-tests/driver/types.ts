/** What the driver records per request and how a transport sends one. */
import type { LoadArm } from '../shared/arms.ts';
import type { LoadPrompt } from '../shared/prompts.ts';
import type { ResultFacts } from '../shared/responses.ts';

/** One request as the driver saw it. */
export interface Sample {
  /** Arm label: the arm sent, or the arm the server reported (sticky scenario). */
  arm: string;
  ok: boolean;
  /** HTTP 5xx (or no response at all), or gRPC INTERNAL/UNKNOWN/DATA_LOSS. */
  serverError: boolean;
  /** HTTP status, gRPC status name, or 'transport'. */
  status: string;
  /** Cut off by the driver's time bound (not counted as an error). */
  cut: boolean;
  startMs: number;
  durationMs: number;
  ttftMs?: number;
  itlMs: number[];
  facts?: ResultFacts;
  /** First 200 characters of the error, for the report. */
  error?: string;
  callerKey?: string;
}

/** One request to send. */
export interface SendRequest {
  prompt: LoadPrompt;
  arm: LoadArm | null;
  iteration: number;
  callerKey?: string;
}

/** Sends one request and reports it; never throws. */
export type Send = (req: SendRequest, signal: AbortSignal) => Promise<Sample>;
