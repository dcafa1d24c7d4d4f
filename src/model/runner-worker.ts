/**
 * Worker-thread side of the runner: owns the LocalModel (session, KV cache) and answers
 * requests from runner.ts. Logits buffers are transferred, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadLocalModel, type LoadOptions, type LocalModel } from './local-model.ts';
import type { StepRow } from './runner-types.ts';

export type WorkerRequest =
  | { id: number; op: 'create' }
  | { id: number; op: 'fork'; src: number; count: number }
  | { id: number; op: 'free'; seq: number }
  | { id: number; op: 'step'; rows: StepRow[] }
  | { id: number; op: 'close' };

export interface PackedStep {
  buffers: ArrayBuffer[];
  logits: { buf: number; offset: number; length: number }[];
  embeddings: (Float32Array | null)[];
  runMs: number;
}

const port = parentPort!;
let model: LocalModel;

async function handle(msg: WorkerRequest): Promise<unknown> {
  switch (msg.op) {
    case 'create':
      return model.createSeq();
    case 'fork':
      return model.forkSeq(msg.src, msg.count);
    case 'free':
      model.freeSeq(msg.seq);
      return null;
    case 'close':
      await model.close();
      return null;
    case 'step': {
      const out = await model.step(msg.rows);
      const buffers: ArrayBuffer[] = [];
      const logits = out.logits.map((l) => {
        let i = buffers.indexOf(l.buffer as ArrayBuffer);
        if (i < 0) i = buffers.push(l.buffer as ArrayBuffer) - 1;
        return { buf: i, offset: l.byteOffset, length: l.length };
      });
      const packed: PackedStep = { buffers, logits, embeddings: out.embeddings, runMs: out.runMs };
      return packed;
    }
  }
}

/** Requests run one at a time, in arrival order: a step never overlaps another step or a fork. */
let queue: Promise<void> = Promise.resolve();

function reply(msg: WorkerRequest, result: unknown): void {
  if (msg.op === 'step') {
    const packed = result as PackedStep;
    try {
      port.postMessage({ id: msg.id, ok: true, result }, packed.buffers);
      return;
    } catch {
      /* buffer not transferable: fall through and copy */
    }
  }
  port.postMessage({ id: msg.id, ok: true, result });
}

port.on('message', (msg: WorkerRequest) => {
  queue = queue.then(() =>
    handle(msg).then(
      (result) => reply(msg, result),
      (err: unknown) => port.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    ),
  );
});

try {
  model = await loadLocalModel(workerData as LoadOptions);
  port.postMessage({ ready: true, info: model.info });
} catch (err) {
  port.postMessage({ ready: false, error: err instanceof Error ? err.message : String(err) });
}
