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
#   Phase 5 (the hard-tier model, a fresh run in RUN_DIR): warm start from INIT5 [models/default; to reproduce the
#                     committed model name the 6-layer parent, git worktree add /tmp/parent 864d26d~1] grown from
#                     6 to 10 layers (zero-output copies after layers GROW5 [1,2,3,4]), peak lr LR5 [6e-4];
#                     a curriculum over both tiers: 5a (BUDGET5A_MIN [80] min) STD5_COUNT [150000] standard
#                     problems of seed SEED5 [4] with the hard problems of up to 9 steps, then 5b (BUDGET5B_MIN
#                     [100] min, a warm restart) with all HARD5_COUNT [300000] hard-tier problems of seed
#                     HARD5_SEED [11] (about 15% / 85% of the tokens); skip-aware throughout: random skip cores
#                     (65% of batches), head masks (20%), full (15%)
#   Phase 5c (stages data5c,train5c; a fresh run in RUN5C [models/train/runs/phase5c]): skip robustness on the hard
#                     tier, warm start from INIT5C [models/default] (no growing), BUDGET5C_MIN [110] min at peak lr 3e-4
#                     on 80,000 hard problems of seed 12 + 25,000 standard of seed 5; skip cores of 15-45% of the
#                     sublayer FLOPs (65% of batches), head masks (20%), full (15%), and in-place self-distillation
#                     (--distill 1: on every batch that skips or masks, KL from the full model's own distribution);
#                     DATA5C_DIR [models/train/data5c], HARD5C_SEED [12], STD5C_SEED [5] for another round on fresh problems;
#                     FIXED5C_CORES (e.g. 'a7,a8,m8;a8,m8': the latency-budget cores the server will share) with
#                     FIXED5C_FRAC [0.5]: that share of the skip-core batches drops one of them instead of a random core;
#                     LR5C [3e-4] the peak lr (a gentler fine-tune of an adopted model)
#   Phase 6 (stage train6; a fresh run in RUN6 [models/train/runs/phase6]): deeper, for redundancy across depth: warm
#                     start from INIT6 [models/default; the shipped run grew phase 5c's 10 layers, in git history before
#                     "Default model: phase 6"] grown to LAYERS6 [16] with zero-output copies after
#                     the old layers GROW6 [1,2,3,4,5,6] (attention 1-3 is where skipping breaks the 10-layer model),
#                     peak lr LR6 [4e-4], BUDGET6_MIN [135] min; otherwise phase 5c's recipe (15-45% skip cores, head
#                     masks, self-distillation) on DATA6_DIR [models/train/data5g: DATA5C_DIR=models/train/data5g
#                     HARD5C_SEED=14 STD5C_SEED=7 STAGES=data5c]
#   Phase 7 (stages data7,train7; a fresh run in RUN7 [models/train/runs/phase7]): two solution paths, so that majority
#                     voting has mistakes that differ to outvote: warm start from INIT7 [models/default] (16
#                     layers), DATA7_DIR [models/train/data7]: 80,000 hard problems of seed HARD7_SEED [15] whose simple
#                     equations are worked through place value with probability ALT7 [0.5] (`data generate --alt-work`)
#                     + 25,000 standard of seed STD7_SEED [8] as they are; peak lr LR7 [3e-4], BUDGET7_MIN [70] min,
#                     phase 5c's skip-aware recipe otherwise
#   Phase 8 (stages data8,train8; a fresh run in RUN8 [models/train/runs/phase8]): a second solution path whose steps
#                     are easier (runs of amount steps worked through their net change, small numbers first;
#                     `data generate --delta-work`): warm start from INIT8 [models/default], DATA8_DIR
#                     [models/train/data8]: 80,000 hard problems of seed HARD8_SEED [16] with net-change working at
#                     DELTA8 [0.5] + 25,000 standard of seed STD8_SEED [9] as they are; peak lr LR8 [2e-4],
#                     BUDGET8_MIN [60] min, phase 5c's skip-aware recipe otherwise (run once, 4 Dec: hard greedy 62.8% ->
#                     29.3%, maj@8 - greedy -2.4; not kept, see the model card)
#   Phase 9 (stages data9,train9; a fresh run in RUN9 [models/train/runs/phase9]): the heads whose single mask costs the
#                     most (FOCUS9 [0.7,0.6,0.4,5.3]: layer.head, from the router calibration's single-head plans) made
#                     dispensable: warm start from INIT9 [models/default], DATA9_DIR [models/train/data9]: 80,000 hard
#                     problems of seed HARD9_SEED [17] + 25,000 standard of seed STD9_SEED [10]; head masks in
#                     40% of batches (20% before), each head-masked example also masking one focus head with
#                     probability FOCUS9_P [0.5]; peak lr LR9 [1e-4], BUDGET9_MIN [50] min, self-distillation as in 5c
#   Phase 10 (stages data10,train10; a fresh run in RUN10 [models/train/runs/phase10]): phase 9's recipe with a frozen
#                     teacher: the skipped and masked paths are distilled from TEACHER10 [models/train/runs/phase9/export,
#                     phase 9 exported] instead of the moving model itself; warm start from INIT10 [the same], DATA10_DIR
#                     [models/train/data10]: 80,000 hard problems of seed HARD10_SEED [18] + 25,000 standard of seed
#                     STD10_SEED [11]; peak lr LR10 [1e-4] decaying only to half (--min-lr-frac 0.5), BUDGET10_MIN [90]
#                     min, focus heads at FOCUS10_P [0.3]
#   Phase 11 (stage train11; a fresh run in RUN11 [models/train/runs/phase11]): layer 0 doubled for its heads' sake:
#                     INIT11 [models/default] grown to 17 layers by a zero-output copy after layer 0, that model frozen as
#                     the teacher of the skipped and masked paths and, through --anchor ANCHOR11 [1.0], of the full one;
#                     phase 10's data (DATA10_DIR), focus heads FOCUS11 [0.7,0.6,0.4,0.5,6.3: layer 0's and old 5.3] at
#                     FOCUS11_P [0.5], peak lr LR11 [5e-5] decaying to half (the copy at GROW_LR11 [10] times that),
#                     BUDGET11_MIN [70] min
#   Phase 12 (stage train12; a fresh run in RUN12 [models/train/runs/phase12]): every query head split in two for the heads'
#                     sake: INIT12 [models/default] widened to 16 query heads of the same size per layer (each old head
#                     two copies sharing its output, grow.py; the same function), that model's parent frozen as the
#                     teacher and anchor (ANCHOR12 [1.0]), phase 10's data, per-head masks over the 16 heads, focus heads
#                     FOCUS12 [0.14,0.15,0.12,0.13: the copies of layer 0's old heads 7 and 6] at FOCUS12_P [0.5], peak lr
#                     LR12 [5e-5] decaying to half, BUDGET12_MIN [50] min (run once, 5 Dec: the copies stayed identical,
#                     one copy of layer 0 head 7 cost 2.2-2.4 points, both 6.8; not kept, see the model card)
#   Phase 13 (stages data13,train13; a fresh run in RUN13 [models/train/runs/phase13]): only layer 0 learns (TRAIN_ONLY13
#                     [model.layers.0.]: every other weight frozen, so the full model cannot run ahead of its masked
#                     paths as in phases 9-12), from INIT13 [models/default], which is also the frozen teacher of the
#                     masked paths and the anchor (ANCHOR13 [1.0]) of the full one; DATA13_DIR [models/train/data13]:
#                     40,000 hard problems of seed HARD13_SEED [41] + 10,000 standard of seed STD13_SEED [42]; 40% of
#                     batches full, 60% masking exactly one layer-0 head per example (FOCUS13, heads 4, 6, 7 twice
#                     as often as the others; no other masks, no sublayer skips), peak lr LR13 [3e-4], BUDGET13_MIN [45] min
#   Phase 13b (stage train13b; RUN13B [models/train/runs/phase13b]): phase 13 with on-policy distillation: every
#                     head-masked batch decodes its prompts greedily under its masks (no gradient) and learns the
#                     teacher's KL on that text alone (--on-policy 1.0); peak lr LR13B [1e-4], BUDGET13B_MIN [40] min
#                     (13 stopped at step 586, 13b run once, 7 Dec: the full model gained 2.6 points through layer 0 and
#                     layer 0 head 7 still cost 4.4, head 6 3.6; not kept, see the model card)
#   Phase 13c (stage train13c; RUN13C [models/train/runs/phase13c]): phase 13b with --anchor-only: the batches that mask
#                     nothing learn the teacher's KL alone (no cross-entropy), so the full model is held at the teacher
#                     and only the masked paths can move; BUDGET13C_MIN [60] min
#   RUN_DIR [models/train/runs/hard]  OUT_DIR [models/default]  TOKENIZER_DIR [models/train/data5/tokenizer]
#   (phases 1-4 ran with RUN_DIR=models/train/runs/default and TOKENIZER_DIR=models/train/data/tokenizer)
#   EVAL_COUNT [2000]  test problems for the accuracy table; SUITE_COUNT [500] for the skip suite
#   STAGES [data5,train5,export,parity,eval]  comma-separated subset to run; the earlier phases that made
#   the 6-layer standard-tier model are data,tokenizer,train,train2,train3,train4 (RUN_DIR, OUT_DIR as before)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-/usr/bin/python3}
SEED=${SEED:-1}
DATA=models/train/data
RUN=${RUN_DIR:-models/train/runs/hard}
OUT=${OUT_DIR:-models/default}
STAGES=${STAGES:-data5,train5,export,parity,eval}
DATA2=models/train/data2
DATA3=models/train/data3
DATA5=models/train/data5
DATA5A=models/train/data5a
TOK=${TOKENIZER_DIR:-$DATA5/tokenizer}
train5() {  # the flags both parts of phase 5 share: 10 layers, skip-aware with random cores, a lower peak lr than the warm restarts of phases 2-4
  OMP_WAIT_POLICY=PASSIVE "$PY" models/train/train.py --tokenizer "$DATA5/tokenizer" --out "$RUN" --layers 10 --max-pos 1024 \
    --dev-count 120 --batch-tokens 2048 --lr "${LR5:-6e-4}" --dev-min 30 --full-frac 0.15 --heads-only-frac 0.2 --core-mode --layer0-head-p 0.3 "$@"
}
has() { [[ ",$STAGES," == *",$1,"* ]]; }
cli() { node bin/skipserve.mjs "$@"; }
fine_tune_data() {  # DIR INIT HARD_SEED STD_SEED ALT [DELTA [HARD_COUNT STD_COUNT]]: 80,000 hard (place-value working at ALT, net-change working at DELTA) + 25,000 standard train problems, INIT's tokenizer, 60 + 60 dev
  mkdir -p "$1/tokenizer"
  cp "$2"/{tokenizer.json,tokenizer_config.json,special_tokens_map.json} "$1/tokenizer/"
  cli data generate --split train --tier hard --seed "$3" --count "${7:-80000}" --alt-work "$5" --delta-work "${6:-0}" --out "$1/train-hard.jsonl"
  cli data generate --split train --seed "$4" --count "${8:-25000}" --out "$1/train-standard.jsonl"
  cat "$1/train-hard.jsonl" "$1/train-standard.jsonl" > "$1/train.jsonl"
  cli data generate --split dev --seed 4 --count 60 --out "$1/dev-standard.jsonl"
  cli data generate --split dev --tier hard --seed 11 --count 60 --out "$1/dev-hard.jsonl"
  paste -d '\n' "$1/dev-standard.jsonl" "$1/dev-hard.jsonl" > "$1/dev.jsonl"
}
train_py() {  # the flags phases 1-4 share; a phase adds its own
  OMP_WAIT_POLICY=PASSIVE "$PY" models/train/train.py --tokenizer "$TOK" --out "$RUN" --dev-count 150 --batch-tokens 2048 "$@"
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
  "$PY" models/train/tokenizer.py train "$DATA/train.jsonl" "$TOK"
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
if has data5; then
  echo "== data for phase 5 (standard seed ${SEED5:-4}, hard seed ${HARD5_SEED:-11})"
  mkdir -p "$DATA5/tokenizer"
  cp "${INIT5:-models/default}"/{tokenizer.json,tokenizer_config.json,special_tokens_map.json} "$DATA5/tokenizer/"
  cli data generate --split train --seed "${SEED5:-4}" --count "${STD5_COUNT:-150000}" --out "$DATA5/train-standard.jsonl"
  cli data generate --split train --tier hard --seed "${HARD5_SEED:-11}" --count "${HARD5_COUNT:-300000}" --out "$DATA5/train-hard.jsonl"
  cat "$DATA5/train-standard.jsonl" "$DATA5/train-hard.jsonl" > "$DATA5/train.jsonl"
  cli data generate --split dev --seed "${SEED5:-4}" --count 100 --out "$DATA5/dev-standard.jsonl"
  cli data generate --split dev --tier hard --seed "${HARD5_SEED:-11}" --count 100 --out "$DATA5/dev-hard.jsonl"
  paste -d '\n' "$DATA5/dev-standard.jsonl" "$DATA5/dev-hard.jsonl" > "$DATA5/dev.jsonl"
fi
if has train5 && [[ ! -f "$RUN/phase5b.started" ]]; then
  echo "== train, phase 5a: grown to 10 layers, standard + the shorter hard problems (log: $RUN/train.log.jsonl)"
  mkdir -p "$DATA5A"
  if [[ ! -f "$DATA5A/train.jsonl" ]]; then
    cp "$DATA5/train-standard.jsonl" "$DATA5A/train.jsonl"
    node -e 'const fs=require("fs");for(const l of fs.readFileSync(process.argv[1],"utf8").split("\n"))if(l&&JSON.parse(l).steps<=9)fs.appendFileSync(process.argv[2],l+"\n")' "$DATA5/train-hard.jsonl" "$DATA5A/train.jsonl"
    cp "$DATA5/dev.jsonl" "$DATA5A/dev.jsonl"
  fi
  train5 --data "$DATA5A" --init-from "${INIT5:-models/default}" --grow-after "${GROW5:-1,2,3,4}" --warmup 300 --budget-min "${BUDGET5A_MIN:-80}"
fi
if has train5; then
  echo "== train, phase 5b: every hard problem (7-12 steps) (log: $RUN/train.log.jsonl)"
  touch "$RUN/phase5b.started"
  train5 --data "$DATA5" --restart-schedule --phase phase5b --warmup 100 --budget-min "${BUDGET5B_MIN:-100}"
fi
D5C=${DATA5C_DIR:-models/train/data5c}
if has data5c; then
  echo "== data for phase 5c (hard seed ${HARD5C_SEED:-12}, standard seed ${STD5C_SEED:-5}) in $D5C"
  fine_tune_data "$D5C" "${INIT5C:-models/default}" "${HARD5C_SEED:-12}" "${STD5C_SEED:-5}" 0
fi
if has train5c; then
  echo "== train, phase 5c: skip robustness with self-distillation (log: ${RUN5C:-models/train/runs/phase5c}/train.log.jsonl)"
  # phase 5's shared flags (train5); a later flag overrides an earlier one
  train5 --tokenizer "$D5C/tokenizer" --out "${RUN5C:-models/train/runs/phase5c}" --data "$D5C" --init-from "${INIT5C:-models/default}" \
    --lr "${LR5C:-3e-4}" --warmup 100 --budget-min "${BUDGET5C_MIN:-110}" --dev-min 40 --core-min 0.15 --core-max 0.45 --distill 1.0 --seed 5150 \
    ${FIXED5C_CORES:+--fixed-cores "$FIXED5C_CORES" --fixed-core-frac "${FIXED5C_FRAC:-0.5}"}
fi
if has train6; then
  echo "== train, phase 6: grown to ${LAYERS6:-16} layers, skip robustness with self-distillation (log: ${RUN6:-models/train/runs/phase6}/train.log.jsonl)"
  D6=${DATA6_DIR:-models/train/data5g}
  train5 --tokenizer "$D6/tokenizer" --out "${RUN6:-models/train/runs/phase6}" --data "$D6" --init-from "${INIT6:-models/default}" \
    --layers "${LAYERS6:-16}" --grow-after "${GROW6:-1,2,3,4,5,6}" --lr "${LR6:-4e-4}" --warmup 200 --budget-min "${BUDGET6_MIN:-135}" \
    --dev-min 30 --core-min 0.15 --core-max 0.45 --distill 1.0 --seed 6160
fi
D7=${DATA7_DIR:-models/train/data7}
if has data7; then
  echo "== data for phase 7 (hard seed ${HARD7_SEED:-15} with place-value working at ${ALT7:-0.5}, standard seed ${STD7_SEED:-8}) in $D7"
  fine_tune_data "$D7" "${INIT7:-models/default}" "${HARD7_SEED:-15}" "${STD7_SEED:-8}" "${ALT7:-0.5}"
fi
if has train7; then
  echo "== train, phase 7: two solution paths (log: ${RUN7:-models/train/runs/phase7}/train.log.jsonl)"
  train5 --tokenizer "$D7/tokenizer" --out "${RUN7:-models/train/runs/phase7}" --data "$D7" --init-from "${INIT7:-models/default}" \
    --layers 16 --lr "${LR7:-3e-4}" --warmup 100 --budget-min "${BUDGET7_MIN:-70}" \
    --dev-min 30 --core-min 0.15 --core-max 0.45 --distill 1.0 --seed 7170
fi
D8=${DATA8_DIR:-models/train/data8}
if has data8; then
  echo "== data for phase 8 (hard seed ${HARD8_SEED:-16} with net-change working at ${DELTA8:-0.5}, standard seed ${STD8_SEED:-9}) in $D8"
  fine_tune_data "$D8" "${INIT8:-models/default}" "${HARD8_SEED:-16}" "${STD8_SEED:-9}" 0 "${DELTA8:-0.5}"
fi
if has train8; then
  echo "== train, phase 8: net-change working beside the direct one (log: ${RUN8:-models/train/runs/phase8}/train.log.jsonl)"
  train5 --tokenizer "$D8/tokenizer" --out "${RUN8:-models/train/runs/phase8}" --data "$D8" --init-from "${INIT8:-models/default}" \
    --layers 16 --lr "${LR8:-2e-4}" --warmup 100 --budget-min "${BUDGET8_MIN:-60}" \
    --dev-min 20 --core-min 0.15 --core-max 0.45 --distill 1.0 --seed 8180
fi
D9=${DATA9_DIR:-models/train/data9}
if has data9; then
  echo "== data for phase 9 (hard seed ${HARD9_SEED:-17}, standard seed ${STD9_SEED:-10}) in $D9"
  fine_tune_data "$D9" "${INIT9:-models/default}" "${HARD9_SEED:-17}" "${STD9_SEED:-10}" 0
fi
if has train9; then
  echo "== train, phase 9: the costliest single heads made dispensable (log: ${RUN9:-models/train/runs/phase9}/train.log.jsonl)"
  train5 --tokenizer "$D9/tokenizer" --out "${RUN9:-models/train/runs/phase9}" --data "$D9" --init-from "${INIT9:-models/default}" \
    --layers 16 --lr "${LR9:-1e-4}" --warmup 50 --budget-min "${BUDGET9_MIN:-50}" --full-frac 0.15 --heads-only-frac 0.4 \
    --focus-heads "${FOCUS9:-0.7,0.6,0.4,5.3}" --focus-head-p "${FOCUS9_P:-0.5}" \
    --dev-min 25 --core-min 0.15 --core-max 0.45 --distill 1.0 --seed 9190
fi
D10=${DATA10_DIR:-models/train/data10}
T10=${TEACHER10:-models/train/runs/phase9/export}
if has data10; then
  echo "== data for phase 10 (hard seed ${HARD10_SEED:-18}, standard seed ${STD10_SEED:-11}) in $D10"
  fine_tune_data "$D10" "$T10" "${HARD10_SEED:-18}" "${STD10_SEED:-11}" 0
fi
if has train10; then
  echo "== train, phase 10: skipped paths distilled from a frozen teacher (log: ${RUN10:-models/train/runs/phase10}/train.log.jsonl)"
  train5 --tokenizer "$D10/tokenizer" --out "${RUN10:-models/train/runs/phase10}" --data "$D10" --init-from "${INIT10:-$T10}" \
    --teacher "$T10" --layers 16 --lr "${LR10:-1e-4}" --min-lr-frac 0.5 --warmup 50 --budget-min "${BUDGET10_MIN:-90}" \
    --full-frac 0.15 --heads-only-frac 0.4 --focus-heads "${FOCUS10:-0.7,0.6,0.4,5.3}" --focus-head-p "${FOCUS10_P:-0.3}" \
    --dev-min 30 --core-min 0.15 --core-max 0.45 --distill 1.0 --seed 10190
fi
if has train11; then
  echo "== train, phase 11: layer 0 doubled, anchored to a frozen teacher (log: ${RUN11:-models/train/runs/phase11}/train.log.jsonl)"
  train5 --tokenizer "$D10/tokenizer" --out "${RUN11:-models/train/runs/phase11}" --data "$D10" --init-from "${INIT11:-models/default}" \
    --grow-after 0 --grow-lr-mult "${GROW_LR11:-10}" --layers 17 --teacher "${INIT11:-models/default}" --anchor "${ANCHOR11:-1.0}" --lr "${LR11:-5e-5}" \
    --min-lr-frac 0.5 --warmup 50 --budget-min "${BUDGET11_MIN:-70}" --full-frac 0.15 --heads-only-frac 0.4 \
    --focus-heads "${FOCUS11:-0.7,0.6,0.4,0.5,6.3}" --focus-head-p "${FOCUS11_P:-0.5}" \
    --dev-min 35 --core-min 0.15 --core-max 0.45 --distill 1.0 --seed 11190
fi
if has train12; then
  echo "== train, phase 12: every query head split in two, anchored to a frozen teacher (log: ${RUN12:-models/train/runs/phase12}/train.log.jsonl)"
  train5 --tokenizer "$D10/tokenizer" --out "${RUN12:-models/train/runs/phase12}" --data "$D10" --init-from "${INIT12:-models/default}" \
    --layers 16 --heads 16 --head-dim 20 --split-heads 2 --teacher "${INIT12:-models/default}" --anchor "${ANCHOR12:-1.0}" --lr "${LR12:-5e-5}" \
    --min-lr-frac 0.5 --warmup 50 --budget-min "${BUDGET12_MIN:-50}" --full-frac 0.15 --heads-only-frac 0.4 \
    --focus-heads "${FOCUS12:-0.14,0.15,0.12,0.13}" --focus-head-p "${FOCUS12_P:-0.5}" \
    --dev-min 35 --core-min 0.15 --core-max 0.45 --distill 1.0 --seed 12190
fi
D13=${DATA13_DIR:-models/train/data13}
if has data13; then
  echo "== data for phase 13 (hard seed ${HARD13_SEED:-41}, standard seed ${STD13_SEED:-42}) in $D13"
  fine_tune_data "$D13" "${INIT13:-models/default}" "${HARD13_SEED:-41}" "${STD13_SEED:-42}" 0 0 40000 10000
fi
phase13() {  # RUN LR BUDGET_MIN DEV_MIN SEED [FLAG...]: layer 0 alone learns to spare each of its heads (phase 13's recipe) + the stage's flags
  local run=$1 lr=$2 budget=$3 dev=$4 seed=$5
  shift 5
  OMP_WAIT_POLICY=PASSIVE "$PY" models/train/train.py --tokenizer "$D13/tokenizer" --out "$run" --data "$D13" \
    --init-from "${INIT13:-models/default}" --teacher "${INIT13:-models/default}" --layers 16 --max-pos 1024 --head-dim 20 \
    --dev-count 120 --batch-tokens 2048 --lr "$lr" --min-lr-frac 0.1 --warmup 30 --wd 0 --budget-min "$budget" \
    --dev-min "$dev" --full-frac 0.4 --heads-only-frac 0.6 --train-only "${TRAIN_ONLY13:-model.layers.0.}" \
    --focus-heads "${FOCUS13:-0.4,0.6,0.7,0.4,0.6,0.7,0.5,0.0,0.1,0.2,0.3}" --focus-head-p 1.0 --focus-only \
    --distill 1.0 --anchor "${ANCHOR13:-1.0}" --seed "$seed" "$@"
}
if has train13; then
  echo "== train, phase 13: layer 0 alone learns to spare each of its heads (log: ${RUN13:-models/train/runs/phase13}/train.log.jsonl)"
  phase13 "${RUN13:-models/train/runs/phase13}" "${LR13:-3e-4}" "${BUDGET13_MIN:-45}" 15 1313
fi
if has train13b; then
  echo "== train, phase 13b: phase 13 on the masked model's own text (log: ${RUN13B:-models/train/runs/phase13b}/train.log.jsonl)"
  phase13 "${RUN13B:-models/train/runs/phase13b}" "${LR13B:-1e-4}" "${BUDGET13B_MIN:-40}" 100 1314 --on-policy 1.0
fi
if has train13c; then
  echo "== train, phase 13c: phase 13b with the full model held at the teacher (log: ${RUN13C:-models/train/runs/phase13c}/train.log.jsonl)"
  phase13 "${RUN13C:-models/train/runs/phase13c}" "${LR13B:-1e-4}" "${BUDGET13C_MIN:-60}" 1000 1315 --on-policy 1.0 --anchor-only
fi
if has export; then
  echo "== export -> $OUT"
  "$PY" models/train/export.py --ckpt "$RUN/ckpt.pt" --tokenizer "$TOK" --out "$OUT"
fi
if has parity; then
  echo "== torch vs onnxruntime greedy tokens, 100 test problems"
  [[ -f "$DATA/test100.jsonl" ]] || cli data generate --split test --seed "$SEED" --count 100 --out "$DATA/test100.jsonl"
  "$PY" models/train/torch_greedy.py --model "$OUT" --problems "$DATA/test100.jsonl" --out "$RUN/torch-greedy.json"
  cli eval --model "$OUT" --split test --seed "$SEED" --count 100 --compare-greedy "$RUN/torch-greedy.json" --json "$RUN/parity.json"
fi
if has eval; then
  echo "== eval on the project runtime"
  for tier in ${EVAL_TIERS:-standard hard}; do  # issue 12's targets: greedy, best-of-8 at T 0.7, the skip suite, per tier
    cli eval --model "$OUT" --tier "$tier" --split test --seed "$SEED" --count "${EVAL_COUNT:-2000}" --n 8 --temperature 0.7 --json "$RUN/eval-test-$tier.json" | tee "$RUN/eval-test-$tier.md"
    cli eval --model "$OUT" --tier "$tier" --split test --seed "$SEED" --count "${SUITE_COUNT:-500}" --suite skips --cores 3 --json "$RUN/eval-skips-$tier.json" | tee "$RUN/eval-skips-$tier.md"
  done
fi
echo "== done"
