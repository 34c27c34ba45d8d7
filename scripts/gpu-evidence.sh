#!/usr/bin/env bash
# Run the verifier and the benchmark natively on a GPU machine (no Docker needed there) and keep
# their output as evidence:   bash scripts/gpu-evidence.sh [OUTDIR]   (default docs/evidence)
# Uses the machine's own python3 and torch; ptkit itself runs from this checkout (stdlib + torch).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/evidence}
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
python3 -m ptkit verify --expect-cuda --report "$out/verify.json" | tee "$out/verify.txt"
verify=${PIPESTATUS[0]}
python3 -m ptkit bench --device cuda --size 1024 --size 4096 --size 8192 --min-time 1 --compare-naive \
  --report "$out/bench.json" | tee "$out/bench.txt"
bench=${PIPESTATUS[0]}
python3 benchmarks/bench_overhead.py | tee "$out/bench_overhead.txt"
echo "verify exit $verify, bench exit $bench"
exit $(( verify || bench ))
