#!/usr/bin/env bash
# Runs every load scenario through the Node driver against a running server, DURATION seconds each,
# then prints the markdown table of the results (the figures in load-tests/README.md were made so):
#   npm start &   # with SKIPSERVE_ARMS_FILE=deploy/kubernetes/base/config/arms.json for the ab scenario
#   DURATION=120 load-tests/run-all.sh [extra driver flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-120}"
OUT="${OUT:-load-tests/out/run-$(date -u +%Y%m%dT%H%M%SZ)}"
AB_ARMS_FILE="${AB_ARMS_FILE:-deploy/kubernetes/base/config/arms.json}"
mkdir -p "$OUT"
status=0
SCENARIOS=(chat chat-stream grpc grpc-stream policies ab)
for scenario in "${SCENARIOS[@]}"; do
  extra=()
  if [ "$scenario" = ab ]; then extra=(--ab-arms "@$AB_ARMS_FILE"); else extra=(--arms available); fi
  node --import tsx load-tests/driver/main.ts --scenario "$scenario" --duration "$DURATION" --requests 1000000 \
    --quiet --out "$OUT/$scenario.json" "${extra[@]}" "$@" || status=$?
done
files=()
for scenario in "${SCENARIOS[@]}"; do files+=("$OUT/$scenario.json"); done
node --import tsx load-tests/driver/report.ts "${files[@]}"
exit "$status"
