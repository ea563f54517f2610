#!/usr/bin/env bash
# One GPU check, under 5 minutes on a single-GPU machine: images/s of pix2pix and CycleGAN
# training steps at 256, plain fp32 against the default fast path (and torch.compile), in
# the same run, and how far the fast path's losses drift from fp32.
#   bash benchmarks/gpu_check.sh            (needs a CUDA build of torch and the package)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
$PY -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
PYTHONPATH=src $PY benchmarks/train_speed.py --device cuda --sizes 256 --batches 1,8 \
    --rounds 10 --compile --check-losses 20
