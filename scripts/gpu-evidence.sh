#!/usr/bin/env bash
# Run the arch probe, the verifier and the benchmark natively on a GPU machine (no Docker needed there) and keep
# their output as evidence:   bash scripts/gpu-evidence.sh [OUTDIR]   (default docs/evidence)
# Uses the machine's own python3 and torch; ptkit itself runs from this checkout (stdlib + torch).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/evidence}
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
# The arch rule on this device: a kernel built for each arch (tests/data/fatbin/archs) loaded and launched through
# the driver API, each outcome against the rule's prediction; then torch's arch verdict and a torch kernel.
python3 scripts/gpu_arch_probe.py --report "$out/arch-probe.json" | tee "$out/arch-probe.txt"
probe=${PIPESTATUS[0]}
# What torch's CUDA libraries really hold (NVIDIA's cuobjdump: pip install nvidia-cuda-cuobjdump), for arch:fatbin;
# without cuobjdump the verifier SKIPs that check and this line says why.
mapfile -t fatbin < <(python3 -m ptkit.fatbin)
# The last matrix run's images and their archs: a device none of this torch's archs runs on is told which does.
mapfile -t rows < <(python3 -c 'from ptkit.fatbin_image import arch_rows
for row in arch_rows(): print("--arch-row"); print(row)')
python3 -m ptkit verify --expect-cuda ${fatbin[@]+"${fatbin[@]}"} ${rows[@]+"${rows[@]}"} --report "$out/verify.json" \
  | tee "$out/verify.txt"
verify=${PIPESTATUS[0]}
python3 -m ptkit bench --device cuda --size 1024 --size 4096 --size 8192 --min-time 1 --compare-naive \
  --report "$out/bench.json" | tee "$out/bench.txt"
bench=${PIPESTATUS[0]}
python3 benchmarks/bench_overhead.py | tee "$out/bench_overhead.txt"
echo "arch probe exit $probe, verify exit $verify, bench exit $bench"
exit $(( probe || verify || bench ))
