/**
 * Every Prometheus metric the server exports, declared in one place. Each server instance gets its
 * own registry (so tests can run several servers in one process). Labels are bounded: `policy`
 * (a registered policy name), `outcome`, `reason` and `operation` (fixed sets), and the served
 * model and selector versions (one series per version loaded), never a request id.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Request outcomes used as the `outcome` label. */
export const OUTCOMES = ['ok', 'cancelled', 'deadline', 'rejected', 'invalid', 'error'] as const;
export type Outcome = (typeof OUTCOMES)[number];

const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const TOKEN_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56];
const RATIO_BUCKETS = [0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1];
const SPEEDUP_BUCKETS = [0.5, 0.75, 0.9, 1, 1.1, 1.25, 1.5, 1.75, 2, 2.5, 3, 4];
const ENTROPY_BUCKETS = [0, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];
const TOKEN_COUNT_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];
const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];


/** Creates the registry and every metric of one server. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client names these gauges `_total`, which `promtool check metrics` rejects; drop them.
  for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name);
  const r = [registry];
  const byPolicy = ['policy'] as const;
  const m = {
    registry,
    requests: new Counter({ name: 'skipserve_requests_total', help: 'Requests by policy and outcome.', labelNames: ['policy', 'outcome'] as const, registers: r }),
    timeToFirstToken: new Histogram({ name: 'skipserve_time_to_first_token_seconds', help: 'Time from arrival to the first generated token.', labelNames: byPolicy, buckets: LATENCY_BUCKETS, registers: r }),
    interTokenLatency: new Histogram({ name: 'skipserve_inter_token_latency_seconds', help: 'Time between consecutive tokens of one candidate.', labelNames: byPolicy, buckets: TOKEN_LATENCY_BUCKETS, registers: r }),
    requestDuration: new Histogram({ name: 'skipserve_request_duration_seconds', help: 'End-to-end request latency.', labelNames: byPolicy, buckets: LATENCY_BUCKETS, registers: r }),
    queueTime: new Histogram({ name: 'skipserve_queue_time_seconds', help: 'Time a request waited before admission.', labelNames: byPolicy, buckets: LATENCY_BUCKETS, registers: r }),
    runningRows: new Gauge({ name: 'skipserve_running_rows', help: 'Candidate rows currently decoding (KV held).', registers: r }),
    waitingRequests: new Gauge({ name: 'skipserve_waiting_requests', help: 'Requests waiting for admission.', registers: r }),
    prefixCachePositions: new Gauge({ name: 'skipserve_prefix_cache_positions', help: 'Prompt positions whose keys and values the prefix cache holds, as allocated (--prefix-cache-mb bounds them).', registers: r }),
    promptTokens: new Counter({ name: 'skipserve_prompt_tokens_total', help: 'Prompt tokens prefilled (those copied from the prefix cache included).', labelNames: byPolicy, registers: r }),
    promptCachedTokens: new Counter({ name: 'skipserve_prompt_cached_tokens_total', help: 'Prompt tokens whose keys and values were copied from the prefix cache instead of computed (hit rate: over skipserve_prompt_tokens_total).', labelNames: byPolicy, registers: r }),
    requestPromptTokens: new Histogram({ name: 'skipserve_request_prompt_tokens', help: 'Prompt tokens per completed request.', labelNames: byPolicy, buckets: TOKEN_COUNT_BUCKETS, registers: r }),
    requestGenerationTokens: new Histogram({ name: 'skipserve_request_generation_tokens', help: 'Tokens generated per completed request, over all its candidates (its usage.completion_tokens).', labelNames: byPolicy, buckets: TOKEN_COUNT_BUCKETS, registers: r }),
    candidates: new Counter({ name: 'skipserve_candidates_total', help: 'Candidates of completed requests by how they ended: stop (end-of-sequence, a stop token or string, a guide\'s end), length (max_tokens or the context), cancelled (cut short by a drain).', labelNames: ['policy', 'finish_reason'] as const, registers: r }),
    generationTokens: new Counter({ name: 'skipserve_generation_tokens_total', help: 'Tokens generated over all candidates.', labelNames: byPolicy, registers: r }),
    decodeSteps: new Counter({ name: 'skipserve_decode_steps_total', help: 'Decode steps by the graph they ran on: dense (every sublayer runs for some row), core (a skip core the batch shares, on its own graph), switched (a core on the If-switched graph until its own is built).', labelNames: ['graph'] as const, registers: r }),
    speedupProbe: new Counter({ name: 'skipserve_speedup_probe_seconds_total', help: 'Time decode steps and speculative cycles waited for dense probe steps (the speedup meter\'s baseline, prefill of its probe rows included); bounded to a small share of the step time.', registers: r }),
    coreGraphBuild: new Counter({ name: 'skipserve_core_graph_build_seconds_total', help: 'Time decode steps waited for skip-core graphs to be built (graphs built ahead at startup are not counted).', registers: r }),
    specCycles: new Counter({ name: 'skipserve_spec_decode_cycles_total', help: 'Speculative decoding cycles (the draft plan drafts up to --speculative-config num_speculative_tokens per row, the rows\' own plans verify them in one run).', registers: r }),
    specDraftTokens: new Counter({ name: 'skipserve_spec_decode_draft_tokens_total', help: 'Tokens the draft plan proposed (acceptance rate: skipserve_spec_decode_accepted_tokens_total over this).', registers: r }),
    specAcceptedTokens: new Counter({ name: 'skipserve_spec_decode_accepted_tokens_total', help: 'Drafted tokens the full model kept (each cycle also adds one token of the full model\'s own).', registers: r }),
    embeddingRequests: new Counter({ name: 'skipserve_embedding_requests_total', help: 'Embeddings requests (HTTP /v1/embeddings and gRPC Embed) by outcome.', labelNames: ['outcome'] as const, registers: r }),
    embeddingTokens: new Counter({ name: 'skipserve_embedding_tokens_total', help: 'Tokens embedded (one prefill of the layers below the embedding layer each; the embedding cache answers repeats).', registers: r }),
    backgroundResponses: new Gauge({ name: 'skipserve_background_responses', help: 'Responses API background responses running now (background: true).', registers: r }),
    toolCallParses: new Counter({ name: 'skipserve_tool_call_parses_total', help: "Candidates of tool_choice 'auto' requests by what --tool-call-parser read in their text: calls, or text (none, or none that parse: a parser that does not match the model's format shows here).", labelNames: ['parser', 'outcome'] as const, registers: r }),
    batchSize: new Histogram({ name: 'skipserve_batch_size', help: 'Rows per decode step.', buckets: BATCH_BUCKETS, registers: r }),
    speedup: new Histogram({ name: 'skipserve_speedup_ratio', help: 'Reported end-to-end speedup per skip-core request: its wall time on the full model beside the same load (its steps at their dense equivalent from dense probe steps, the load beside it re-timed by fair share), over its wall time.', labelNames: byPolicy, buckets: SPEEDUP_BUCKETS, registers: r }),
    skippedCompute: new Histogram({ name: 'skipserve_skipped_compute_ratio', help: 'Fraction of per-token matmul FLOPs removed by the shared skip core, per request.', labelNames: byPolicy, buckets: RATIO_BUCKETS, registers: r }),
    uniqueAnswers: new Histogram({ name: 'skipserve_unique_answers_ratio', help: 'Distinct extracted answers / n, per best-of-N request.', labelNames: byPolicy, buckets: RATIO_BUCKETS, registers: r }),
    answerEntropy: new Histogram({ name: 'skipserve_answer_entropy', help: 'Shannon entropy (in bits) of the extracted answers, per best-of-N request (promtool rejects a _bits suffix).', labelNames: byPolicy, buckets: ENTROPY_BUCKETS, registers: r }),
    distinct2: new Histogram({ name: 'skipserve_distinct_2_ratio', help: 'Distinct token bigrams / all bigrams over the candidates, per best-of-N request.', labelNames: byPolicy, buckets: RATIO_BUCKETS, registers: r }),
    pairwiseDistance: new Histogram({ name: 'skipserve_pairwise_distance_ratio', help: 'Mean Jaccard distance between candidates\' token sets, per best-of-N request.', labelNames: byPolicy, buckets: RATIO_BUCKETS, registers: r }),
    majorityShare: new Histogram({ name: 'skipserve_majority_share_ratio', help: 'Share of candidates agreeing with the most common answer, per best-of-N request.', labelNames: byPolicy, buckets: RATIO_BUCKETS, registers: r }),
    recordsWritten: new Counter({ name: 'skipserve_store_records_written_total', help: 'Served-request records committed to the store.', registers: r }),
    recordsDropped: new Counter({ name: 'skipserve_store_records_dropped_total', help: 'Served-request records not written: queue_full (the request was still answered), closed, invalid; write errors count under skipserve_store_errors_total.', labelNames: ['reason'] as const, registers: r }),
    feedback: new Counter({ name: 'skipserve_feedback_received_total', help: 'Feedback received, by outcome (stored = durable before the answer).', labelNames: ['outcome'] as const, registers: r }),
    storeWriteDuration: new Histogram({ name: 'skipserve_store_write_duration_seconds', help: 'Store write transactions: a batch of records, or one feedback (until durable).', labelNames: ['operation'] as const, buckets: STORE_BUCKETS, registers: r }),
    storeErrors: new Counter({ name: 'skipserve_store_errors_total', help: 'Store failures by operation (records counts the records lost).', labelNames: ['operation'] as const, registers: r }),
    storePending: new Gauge({ name: 'skipserve_store_pending_records', help: 'Records queued for the store writer or being written.', registers: r }),
    modelInfo: new Gauge({ name: 'skipserve_model_info', help: 'The model and selector versions serving new requests (value 1): name@hash prefix; selector_version="none" without a selector.', labelNames: ['model_version', 'selector_version'] as const, registers: r }),
    reloads: new Counter({ name: 'skipserve_reloads_total', help: 'Version reloads by what changed (model, selector, none) or error.', labelNames: ['outcome'] as const, registers: r }),
    modelRestarts: new Counter({ name: 'skipserve_model_restarts_total', help: 'Models reopened after their runtime died on its own, by outcome (ok, error, gave_up) and cause (crash: the worker ended; hang: it left calls unanswered past --stall-timeout).', labelNames: ['outcome', 'cause'] as const, registers: r }),
  };
  // Exported at 0 from the start, so an alert's increase() sees the first restart (a series that
  // appears at 1 shows no increase).
  for (const outcome of ['ok', 'error', 'gave_up']) for (const cause of ['crash', 'hang']) m.modelRestarts.inc({ outcome, cause }, 0);
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
