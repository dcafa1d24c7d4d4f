#!/usr/bin/env bash
# `npm run train:default`: the whole default-model pipeline - generate data, train the tokenizer,
# skip-aware training (resumable: rerun to continue), export to models/default, check that torch
# and onnxruntime give the same greedy tokens on 100 test problems, evaluate on the project runtime.
#
# Environment (defaults in brackets):
#   PYTHON [/usr/bin/python3]  python with Debian's python3-torch + libopenblas0-openmp
#   SEED [1]  TRAIN_COUNT [200000]  DEV_COUNT [1000]
#   BUDGET_MIN [100]  phase-1 training minutes on seed SEED's problems (wall-clock cosine; checkpoints every 5 min)
#   BUDGET2_MIN [95]  phase-2 minutes: a warm restart (new warm-up + cosine, same weights and optimizer)
#                     on TRAIN2_COUNT [400000] fresh problems of seed SEED2 [2]; 0 skips it
#   BUDGET3_MIN [20]  phase 3: warm restart at lr 5e-4 on the same problems, 75% of batches dropping sublayers
#   BUDGET4_MIN [100] phase 4: warm restart at lr 7e-4 on TRAIN4_COUNT [400000] fresh problems of seed
#                     SEED4 [3]; 75% of batches drop a random skip core of 10-60% of the sublayer FLOPs
#                     (as the evaluation draws them), extra layer-0 head masks
#   (each phase runs only while the next has not started, so a rerun resumes where it stopped)
#   RUN_DIR [models/train/runs/default]  OUT_DIR [models/default]
#   EVAL_COUNT [2000]  test problems for the accuracy table; SUITE_COUNT [500] for the skip suite
#   STAGES [data,tokenizer,train,train2,train3,train4,export,parity,eval]  comma-separated subset to run
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-/usr/bin/python3}
SEED=${SEED:-1}
DATA=models/train/data
RUN=${RUN_DIR:-models/train/runs/default}
OUT=${OUT_DIR:-models/default}
STAGES=${STAGES:-data,tokenizer,train,train2,train3,train4,export,parity,eval}
DATA2=models/train/data2
DATA3=models/train/data3
has() { [[ ",$STAGES," == *",$1,"* ]]; }
cli() { node bin/skipserve.mjs "$@"; }
train_py() {  # the flags every training phase shares; a phase adds its own
  OMP_WAIT_POLICY=PASSIVE "$PY" models/train/train.py --tokenizer "$DATA/tokenizer" --out "$RUN" --dev-count 150 --batch-tokens 2048 "$@"
}
mkdir -p "$DATA" "$RUN"

"$PY" -c 'import torch' 2>/dev/null || { echo "pipeline: $PY has no torch; install python3-torch and libopenblas0-openmp (apt) or set PYTHON" >&2; exit 1; }

if has data; then
  echo "== data (seed $SEED)"
  cli data generate --split train --seed "$SEED" --count "${TRAIN_COUNT:-200000}" --out "$DATA/train.jsonl"
  cli data generate --split dev --seed "$SEED" --count "${DEV_COUNT:-1000}" --out "$DATA/dev.jsonl"
  cli data generate --split test --seed "$SEED" --count 100 --out "$DATA/test100.jsonl"
  mkdir -p "$DATA2"
  cli data generate --split train --seed "${SEED2:-2}" --count "${TRAIN2_COUNT:-400000}" --out "$DATA2/train.jsonl"
  cp "$DATA/dev.jsonl" "$DATA2/dev.jsonl"
  mkdir -p "$DATA3"
  cli data generate --split train --seed "${SEED4:-3}" --count "${TRAIN4_COUNT:-400000}" --out "$DATA3/train.jsonl"
  cp "$DATA/dev.jsonl" "$DATA3/dev.jsonl"
fi
if has tokenizer; then
  echo "== tokenizer"
  "$PY" models/train/tokenizer.py train "$DATA/train.jsonl" "$DATA/tokenizer"
fi
if has train && [[ ! -f "$RUN/phase2.started" ]]; then
  echo "== train (log: $RUN/train.log.jsonl)"
  train_py --data "$DATA" --budget-min "${BUDGET_MIN:-100}" --dev-min 12
fi
if has train2 && [[ "${BUDGET2_MIN:-95}" != 0 && ! -f "$RUN/phase3.started" ]]; then
  echo "== train, phase 2: warm restart on fresh problems (log: $RUN/train.log.jsonl)"
  touch "$RUN/phase2.started"
  train_py --data "$DATA2" --restart-schedule --budget-min "${BUDGET2_MIN:-95}" --warmup 100 --dev-min 15
fi
if has train3 && [[ "${BUDGET3_MIN:-20}" != 0 && ! -f "$RUN/phase4.started" ]]; then
  echo "== train, phase 3: skip-heavy warm restart (log: $RUN/train.log.jsonl)"
  touch "$RUN/phase3.started"
  train_py --data "$DATA2" --restart-schedule --phase phase3 --lr 5e-4 --warmup 50 --budget-min "${BUDGET3_MIN:-20}" \
    --dev-min 100 --full-frac 0.15 --heads-only-frac 0.1
fi
if has train4 && [[ "${BUDGET4_MIN:-100}" != 0 ]]; then
  echo "== train, phase 4: random skip cores as evaluated, fresh problems (log: $RUN/train.log.jsonl)"
  touch "$RUN/phase4.started"
  train_py --data "$DATA3" --restart-schedule --phase phase4 --lr 7e-4 --warmup 50 --budget-min "${BUDGET4_MIN:-100}" \
    --dev-min 20 --full-frac 0.15 --heads-only-frac 0.1 --core-mode --layer0-head-p 0.3
fi
if has export; then
  echo "== export -> $OUT"
  "$PY" models/train/export.py --ckpt "$RUN/ckpt.pt" --tokenizer "$DATA/tokenizer" --out "$OUT"
fi
if has parity; then
  echo "== torch vs onnxruntime greedy tokens, 100 test problems"
  [[ -f "$DATA/test100.jsonl" ]] || cli data generate --split test --seed "$SEED" --count 100 --out "$DATA/test100.jsonl"
  "$PY" models/train/torch_greedy.py --model "$OUT" --problems "$DATA/test100.jsonl" --out "$RUN/torch-greedy.json"
  cli eval --model "$OUT" --split test --seed "$SEED" --count 100 --compare-greedy "$RUN/torch-greedy.json" --json "$RUN/parity.json"
fi
if has eval; then
  echo "== eval on the project runtime"
  cli eval --model "$OUT" --split test --seed "$SEED" --count "${EVAL_COUNT:-2000}" --n 8 --json "$RUN/eval-test.json" | tee "$RUN/eval-test.md"
  cli eval --model "$OUT" --split test --seed "$SEED" --count "${SUITE_COUNT:-500}" --suite skips --cores 3 --json "$RUN/eval-skips.json" | tee "$RUN/eval-skips.md"
fi
echo "== done"
