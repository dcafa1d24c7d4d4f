/**
 * `skipserve router calibrate|train|ensemble|eval|vote-rules`: the learned router's offline pipeline.
 * calibrate measures importances and plan utilities (resumable), train fits and exports the
 * selector, ensemble picks the calibrated sub-network ensemble, eval compares every policy and
 * writes the table and plot, vote-rules scores the server's selection rules on the same candidates.
 */
import { CALIBRATE_USAGE, runCalibrate } from './cli-calibrate.ts';
import { ENSEMBLE_USAGE, runEnsemble } from './cli-ensemble.ts';
import { EVAL_USAGE, runEvalCommand } from './cli-eval.ts';
import { runTrain, TRAIN_USAGE } from './cli-train.ts';
import { runVoteRulesCommand, VOTE_RULES_USAGE } from './cli-vote-rules.ts';

const USAGE = `usage: skipserve router calibrate|train|ensemble|eval|vote-rules [options]\n\n${CALIBRATE_USAGE}\n\n${TRAIN_USAGE}\n\n${ENSEMBLE_USAGE}\n\n${EVAL_USAGE}\n\n${VOTE_RULES_USAGE}\n`;

/** Dispatches the subcommand. */
export async function run(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return;
  }
  if (sub === 'calibrate') return runCalibrate(rest);
  if (sub === 'train') return runTrain(rest);
  if (sub === 'ensemble') return runEnsemble(rest);
  if (sub === 'eval') return runEvalCommand(rest);
  if (sub === 'vote-rules') return runVoteRulesCommand(rest);
  throw new Error(`unknown subcommand '${sub}'\n${USAGE}`);
}
