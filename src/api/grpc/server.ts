/**
 * The gRPC server: skipserve.v1.Inference (Generate, GenerateStream, ListPolicies, GetModel,
 * Feedback, GetRequest, Embed), grpc.health.v1.Health and server reflection. Same request semantics and
 * errors as HTTP; a client cancel or an expired deadline aborts the request, which frees its rows at
 * the next engine step.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { InvalidRequestError } from '../../errors.ts';
import { countedEmbedding, embedInputs } from '../../engine/embeddings.ts';
import type { ServedHandle } from '../../engine/local-engine.ts';
import type { GenerationResult, RequestSpec } from '../../engine/types.ts';
import { countEdgeError } from '../../metrics/outcomes.ts';
import { describeVersions } from '../../versions/reloader.ts';
import { authorize, describePolicies, type ApiContext } from '../context.ts';
import { lookupRecord, submitFeedback } from '../records.ts';
import { countUndispatched, deadlineLag, deadlineOf, goneError } from './call-ends.ts';
import { samplingDefaultsToWire } from '../../model/sampling-defaults.ts';
import { deltaToMsg, promptToMsg, resultToMsg, specFromMsg } from './convert.ts';
import { toolModeOf } from '../../engine/tool-calls.ts';
import { toGrpc } from './errors.ts';
import type {
  FeedbackRequestMsg,
  FeedbackResponseMsg,
  GenerateRequestMsg,
  GenerateResponseMsg,
  GenerateStreamResponseMsg,
  GetRequestRequestMsg,
  EmbedRequestMsg,
  EmbedResponseMsg,
  HealthCheckRequestMsg,
  HealthCheckResponseMsg,
  ModelDescriptionMsg,
  PolicyDescriptionMsg,
  RequestRecordMsg,
} from './messages.ts';
import { feedbackFromMsg, recordToMsg } from './record-convert.ts';

export const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../proto');
export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_DIR] };
const INFERENCE_SERVICE = 'skipserve.v1.Inference';
const MALFORMED = Symbol('malformed');

/** Loads the skipserve and health protos (also used by tests and the benchmark to build clients). */
export function loadProtos(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(['skipserve/v1/inference.proto', 'grpc/health/v1/health.proto'], LOADER_OPTIONS);
}

type Unary<Req, Res> = grpc.handleUnaryCall<Req, Res>;

export interface GrpcServerHandle {
  server: grpc.Server;
  port: number;
  /** Re-sends the health status to watchers (call when readiness changes). */
  notifyHealth(): void;
  close(): Promise<void>;
}


/** Starts the gRPC server on host:port (0 = any free port). */
export async function startGrpcServer(ctx: ApiContext, host: string, port: number): Promise<GrpcServerHandle> {
  const def = loadProtos();
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    skipserve: { v1: { Inference: grpc.ServiceClientConstructor } };
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  const metrics = ctx.metrics;
  const method = (name: string) => `/${INFERENCE_SERVICE}/${name}`;
  const server = new grpc.Server({
    interceptors: [countUndispatched(metrics, { generation: [method('Generate'), method('GenerateStream')], embedding: [method('Embed')] })],
  });
  const fail = (err: unknown): grpc.ServiceError => {
    countEdgeError(metrics, err);
    return toGrpc(err);
  };

  /** The one auth check of every Inference method (health and reflection stay open, like /health). */
  const authorized = (md: grpc.Metadata): void => authorize(ctx, md.get('authorization')[0] as string | undefined);
  /** A message that did not decode is refused as invalid (grpc-js would answer INTERNAL before any handler). */
  const decoded = (request: unknown): void => {
    const bad = (request as Record<symbol, string> | null)?.[MALFORMED];
    if (bad !== undefined) throw new InvalidRequestError(`malformed protobuf message: ${bad}`, null, 'invalid_protobuf');
  };
  /**
   * Wraps a unary handler: auth first, then the handler; any error becomes one mapped status (counted
   * as a generation outcome only when `counted`, i.e. for Generate).
   */
  const unary = <Req, Res>(fn: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res, counted = false): Unary<Req, Res> => async (call, callback) => {
    let res: Res;
    try {
      authorized(call.metadata);
      decoded(call.request);
      res = await fn(call);
    } catch (err) {
      callback(counted ? fail(err) : toGrpc(err));
      return;
    }
    callback(null, res);
  };

  /** Maps, checks and submits; a client cancel aborts the request; the deadline rides along. */
  const submit = (call: grpc.ServerUnaryCall<GenerateRequestMsg, unknown> | grpc.ServerWritableStream<GenerateRequestMsg, unknown>, stream: boolean) => {
    const receivedAt = performance.now();
    const deadline = deadlineOf(call);
    const abort = new AbortController();
    // grpc-js says "cancelled" for a passed deadline too: tell the two apart, so the outcome is right.
    const lag = deadlineLag(deadline);
    const gone = () => abort.abort(goneError(deadline, lag));
    call.on('cancelled', gone);
    if (call.cancelled) gone();
    const key = call.request.key || (call.metadata.get('x-skipserve-key')[0] as string | undefined) || undefined;
    const spec = specFromMsg(call.request, ctx.config.toolCallParser);
    // The engine serving now; the request stays on it (and its versions) even if a reload swaps it.
    const engine = ctx.model;
    return { engine, spec, handle: engine.submit({ ...spec, stream, key, signal: abort.signal, deadline, receivedAt }) };
  };
  /** The response; a messages request's candidates read as chat messages under its tool mode and the reasoning parser. */
  const respond = (engine: ApiContext['model'], handle: ServedHandle, result: GenerationResult, spec: RequestSpec) => {
    const chat = spec.prompt.kind === 'chat' ? { toolMode: toolModeOf(spec), reasoning: ctx.config.reasoningParser } : null;
    return resultToMsg(engine.tokenizer, handle.id, engine.info.id, Math.floor(Date.now() / 1000), result, chat);
  };

  const generate = unary<GenerateRequestMsg, GenerateResponseMsg>(async (call) => {
    const { engine, spec, handle } = submit(call, false);
    const h = await handle;
    return respond(engine, h, await h.result, spec);
  }, true);

  const generateStream: grpc.handleServerStreamingCall<GenerateRequestMsg, GenerateStreamResponseMsg> = async (call) => {
    try {
      authorized(call.metadata);
      decoded(call.request);
      const { engine, spec, handle: submitted } = submit(call, true);
      const handle = await submitted;
      let first = true;
      for await (const d of handle.events) {
        if (call.cancelled) break;
        const echoed = first ? handle.echoedPrompt() : undefined;
        if (echoed) call.write({ prompt: promptToMsg(engine.tokenizer, echoed) });
        first = false;
        call.write({ delta: deltaToMsg(engine.tokenizer, d) });
      }
      call.write({ final: respond(engine, handle, await handle.result, spec) });
      call.end();
    } catch (err) {
      const e = fail(err);
      // emit (not destroy): grpc-js sends the status; a destroyed stream never tells the client why.
      if (!call.cancelled) call.emit('error', e);
      return;
    }
  };

  const listPolicies = unary<unknown, { policies: PolicyDescriptionMsg[]; default_policy: string }>(() => ({
    policies: describePolicies(ctx.model).map((p) => ({ name: p.name, description: p.description, available: p.available, unavailable_reason: p.reason ?? '' })),
    default_policy: ctx.model.defaultPolicy,
  }));

  const getModel = unary<unknown, ModelDescriptionMsg>(() => {
    const model = ctx.model;
    const i = model.info;
    const v = describeVersions(model.versions);
    return {
      id: i.id,
      architecture: i.architecture,
      num_layers: i.numLayers,
      num_heads: i.numHeads,
      num_kv_heads: i.numKvHeads,
      head_dim: i.headDim,
      hidden_size: i.hiddenSize,
      intermediate_size: i.intermediateSize,
      vocab_size: i.vocabSize,
      max_positions: i.maxPositions,
      max_batch: ctx.config.maxBatch,
      model_version: v.model,
      selector_version: model.versions.selector ? v.selector : '',
      default_sampling_params: model.limits.samplingDefaults ? samplingDefaultsToWire(model.limits.samplingDefaults) : {},
    };
  });

  const feedback = unary<FeedbackRequestMsg, FeedbackResponseMsg>(async (call) => {
    const input = feedbackFromMsg(call.request);
    const { replaced } = await submitFeedback(ctx, input);
    return { id: input.id, source: input.source, replaced };
  });
  const getRequest = unary<GetRequestRequestMsg, RequestRecordMsg>(async (call) => recordToMsg(await lookupRecord(ctx, call.request.id)));
  const embed = unary<EmbedRequestMsg, EmbedResponseMsg>(async (call) => {
    const m = call.request;
    if (m.input.length > 0 && m.token_inputs.length > 0) throw new InvalidRequestError('set input (texts) or token_inputs (token ids), not both', 'token_inputs');
    const input = m.input.length ? m.input.map((text) => ({ kind: 'text' as const, text })) : m.token_inputs.map((t) => ({ kind: 'tokens' as const, tokens: t.ids }));
    const model = ctx.model;
    const gone = new AbortController();
    call.on('cancelled', () => gone.abort());
    const r = await countedEmbedding(ctx.metrics, () => embedInputs(model, { model: m.model || undefined, input, signal: gone.signal }));
    return { model: model.info.id, data: r.vectors.map((v) => ({ values: Array.from(v) })), prompt_tokens: r.promptTokens };
  });

  // Decode failures become a marker the handlers refuse with INVALID_ARGUMENT.
  for (const m of Object.values(pkg.skipserve.v1.Inference.service) as { requestDeserialize: (b: Buffer) => unknown }[]) {
    const decode = m.requestDeserialize;
    m.requestDeserialize = (b: Buffer) => {
      try {
        return decode(b);
      } catch (err) {
        return { [MALFORMED]: (err as Error).message };
      }
    };
  }
  server.addService(pkg.skipserve.v1.Inference.service, {
    Generate: generate,
    GenerateStream: generateStream,
    ListPolicies: listPolicies,
    GetModel: getModel,
    Feedback: feedback,
    GetRequest: getRequest,
    Embed: embed,
  });

  // grpc.health.v1: '' and the Inference service report SERVING while the server is ready.
  const watchers = new Set<{ service: string; call: grpc.ServerWritableStream<HealthCheckRequestMsg, HealthCheckResponseMsg> }>();
  const statusOf = (service: string): HealthCheckResponseMsg['status'] | null =>
    service === '' || service === INFERENCE_SERVICE ? (ctx.notReadyReason() === null ? 'SERVING' : 'NOT_SERVING') : null;
  server.addService(pkg.grpc.health.v1.Health.service, {
    Check: ((call, callback) => {
      const status = statusOf(call.request.service);
      if (status === null) {
        callback({ code: grpc.status.NOT_FOUND, details: `unknown service '${call.request.service}'` });
        return;
      }
      callback(null, { status });
    }) as Unary<HealthCheckRequestMsg, HealthCheckResponseMsg>,
    Watch: ((call) => {
      const w = { service: call.request.service, call };
      watchers.add(w);
      call.write({ status: statusOf(w.service) ?? 'SERVICE_UNKNOWN' });
      call.on('cancelled', () => watchers.delete(w));
    }) as grpc.handleServerStreamingCall<HealthCheckRequestMsg, HealthCheckResponseMsg>,
  });

  new ReflectionService(def).addToServer(server);

  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    server,
    port: bound,
    notifyHealth() {
      for (const w of watchers) w.call.write({ status: statusOf(w.service) ?? 'SERVICE_UNKNOWN' });
    },
    close() {
      for (const w of watchers) w.call.end();
      watchers.clear();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 5000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
