/**
 * `skipserve router calibrate|train|eval`: the learned router's offline pipeline. calibrate
 * measures importances and plan utilities (resumable), train fits and exports the selector, eval
 * compares every policy and writes the table and plot.
 */
import { CALIBRATE_USAGE, runCalibrate } from './cli-calibrate.ts';
import { EVAL_USAGE, runEvalCommand } from './cli-eval.ts';
import { runTrain, TRAIN_USAGE } from './cli-train.ts';

const USAGE = `usage: skipserve router calibrate|train|eval [options]\n\n${CALIBRATE_USAGE}\n\n${TRAIN_USAGE}\n\n${EVAL_USAGE}\n`;

/** Dispatches the subcommand. */
export async function run(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return;
  }
  if (sub === 'calibrate') return runCalibrate(rest);
  if (sub === 'train') return runTrain(rest);
  if (sub === 'eval') return runEvalCommand(rest);
  throw new Error(`unknown subcommand '${sub}'\n${USAGE}`);
}
