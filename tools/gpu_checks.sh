#!/usr/bin/env bash
# The GPU checks in one prepared run: the benchmark, the `#| cuda` notebook cells, and the recipe's training runs
# (experiments/ablation.py: the headline runs, the GPU preset's members, the quick preset, the ablations) side by side.
# Needs the image stores at data/images/grocery_256.h5 and, for the `gpu` preset's Lite2 at 260 px, grocery_320.h5
# (tools/pack_store.py moves them; without the unified dataset there they cannot be built). Usage:
#   tools/gpu_checks.sh OUT_DIR [ABLATION_DEADLINE_S] [WORKERS]
set -uo pipefail
out=${1:-data/gpu}; deadline=${2:-400}; workers=${3:-14}
mkdir -p "$out"
export HDF5_USE_FILE_LOCKING=FALSE PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
timeout 60 python3 bench/vit.py --device cuda 2>&1 | tee "$out/bench_vit.txt"
python3 experiments/ablation.py --out "$out/ablation" --jobs long,gpu,quick,ablation --workers "$workers" --device cuda \
    --deadline "$deadline" > "$out/ablation.txt" 2>&1 &
ablation=$!
timeout 200 python3 tools/run_notebooks.py --check nbs/07c_maps.ipynb nbs/09_train.ipynb --flags cuda 2>&1 | tail -40 | tee "$out/cuda_notebooks.txt"
wait $ablation
tail -60 "$out/ablation.txt"
