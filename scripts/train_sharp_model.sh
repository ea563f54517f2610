#!/usr/bin/env bash
# How the sharp restorer shipped in src/mosaicgan/weights/restore_sharp.json was made (see
# MODEL_CARD.md): the default (faithful) restorer fine-tuned with L1 + a small LSGAN weight +
# a feature loss (the ESRGAN recipe), on the same licensed photos and screens; then the
# trade-off measured on photos never trained on. Run after train_default_model.sh (it
# reuses its pairs when they are there).
#   bash scripts/train_sharp_model.sh [DATA_DIR] [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data}
WORK=${2:-/tmp/mosaicgan-default}
BIN=.venv/bin/mosaicgan

if [ ! -f "$WORK/pairs/train/pairs.jsonl" ]; then
    $BIN pairs "$DATA/photos/debian" -o "$WORK/pairs" --size 256 --per-image 150 --block 6-24 \
        --val 0.1 --seed 0
fi
# Starts from the shipped default (--init-from default, recorded as its faithful end: the
# sharpness dial interpolates between the two). L1 keeps the pixels honest (weight 100 on
# the mask's mean error, as before); the feature loss (EfficientNet-Lite0 up to block 5,
# weight 5: about the L1 term's size) and the LSGAN (weight 1: a twentieth of it) draw detail.
$BIN train pix2pix "$WORK/pairs" -o "$WORK/sharp" --init-from default --gan-mode lsgan \
    --gan-weight 1 --perceptual 5 --lr 1e-4 --batch 4 --steps 3000 --sample-every 500 \
    --checkpoint-every 250 --seed 0
$BIN export "$WORK/sharp" -o src/mosaicgan/weights/restore_sharp.json
for set in sun_hays80 cbsd68; do
    $BIN eval "$DATA/photos/$set" -o "$WORK/eval-sharp-$set" --model default \
        --sharpness 0,0.5,1 --blocks 8,12
done
