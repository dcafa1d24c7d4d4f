/**
 * The model's side of an APT round, through the project's Python trainer: DPO (models/train/dpo.py)
 * from the serving model on the round's pairs mixed with general problems, export to a candidate
 * directory (export.py), and the parity check the pipeline runs (torch greedy tokens == the
 * project runtime's on test problems).
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLocalEngine } from '../src/engine/local-engine.ts';
import { readCalibration, routerPaths, writeJsonAtomic } from '../src/router/calibration.ts';
import { modelFingerprint } from '../src/router/model-fingerprint.ts';
import { greedyResults } from '../models/train/eval/run-requests.ts';
import type { Problem } from '../models/train/generator/problems.ts';

const PY = process.env.PYTHON ?? '/usr/bin/python3';
const TRAIN = join(import.meta.dirname, '..', 'models', 'train');

/** Runs a python script of models/train; rejects with its exit code and the tail of its output. */
export function python(script: string, args: string[], log: (line: string) => void = () => {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(PY, [join(TRAIN, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } });
    let tail = '';
    const take = (b: Buffer) => {
      const s = b.toString();
      tail = (tail + s).slice(-4000);
      for (const line of s.split('\n')) if (line.trim()) log(line);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${script} exited ${code}:\n${tail}`))));
  });
}

export interface DpoOptions {
  steps: number;
  beta: number;
  lr: number;
  /** Weight of the chosen solutions' mean token NLL beside the DPO loss. */
  chosenNll: number;
  threads: number;
}

/**
 * Trains and exports a candidate: `baseline` (an exported model dir) + DPO on `pairsFile` with
 * `generalFile` mixed in -> `outDir/model` (an HF directory, the baseline's router files copied).
 */
export async function trainCandidate(baseline: string, pairsFile: string, generalFile: string, outDir: string, o: DpoOptions, log?: (line: string) => void): Promise<string> {
  const run = join(outDir, 'dpo-run');
  const model = join(outDir, 'model');
  mkdirSync(run, { recursive: true });
  await python('dpo.py', ['--init', baseline, '--pairs', pairsFile, '--general', generalFile, '--out', run, '--steps', String(o.steps), '--beta', String(o.beta), '--lr', String(o.lr), '--chosen-nll', String(o.chosenNll), '--threads', String(o.threads)], log);
  await python('export.py', ['--ckpt', join(run, 'ckpt.pt'), '--tokenizer', baseline, '--out', model], log);
  // The selector, catalog and calibration stay the baseline's until the selector's own round replaces them.
  for (const f of ['selector.onnx', 'router']) if (existsSync(join(baseline, f))) cpSync(join(baseline, f), join(model, f), { recursive: true });
  inheritCalibration(model);
  return model;
}

/**
 * The candidate keeps its baseline's calibration on purpose (a DPO step moves the weights a little),
 * so its calibration.json is re-addressed to the candidate's weights, and names the weights it was
 * measured on, or the server would refuse it as another model's (src/router/resources.ts).
 */
export function inheritCalibration(modelDir: string): void {
  const path = routerPaths(modelDir).calibration;
  const c = readCalibration(path);
  if (!c) return;
  writeJsonAtomic(path, { ...c, weights: modelFingerprint(modelDir), measuredOn: c.measuredOn ?? c.weights });
}

/** torch greedy tokens == the project runtime's greedy tokens on `problems`; returns the number identical. */
export async function checkParity(modelDir: string, problems: Problem[], workDir: string, o: { threads: number; maxTokens: number }): Promise<{ identical: number; total: number }> {
  const file = join(workDir, 'parity-problems.jsonl');
  const torchOut = join(workDir, 'parity-torch.json');
  writeFileSync(file, problems.map((p) => JSON.stringify(p)).join('\n') + '\n');
  await python('torch_greedy.py', ['--model', modelDir, '--problems', file, '--out', torchOut, '--max-new', String(o.maxTokens), '--threads', String(o.threads)]);
  const ref = JSON.parse(readFileSync(torchOut, 'utf8')) as number[][];
  const local = await openLocalEngine({ modelDir, threads: o.threads, maxBatch: 32, maxQueue: 100_000, measureSpeedup: false });
  try {
    const rs = await greedyResults({ local, problems, seed: 1, maxTokens: o.maxTokens }, { policy: 'none' });
    const identical = rs.filter((r, i) => JSON.stringify(r.candidates[0]!.tokenIds) === JSON.stringify(ref[i])).length;
    return { identical, total: problems.length };
  } finally {
    await local.close();
  }
}
