#!/usr/bin/env bash
# Reproduce edgecv's default weights (edgecv/weights/). Each model is one `edgecv train` command
# (shapes renders at 64 px, shapes-det and shapes-seg at 128 px by default); scripts/pack_default_weights.py then
# stores the best epochs as fp16 safetensors with checksums and re-measured val accuracy.
# Roughly 3 hours on 2 CPU cores in all (estimated: each EfficientNet took about an hour on one core).
set -euo pipefail
out=${1:-runs/default}
edgecv train mobilenet_v3_large --data shapes --epochs 20 --batch 32 --lr 1.5e-3 --out "$out/mobilenet_v3_large"
# The EfficientNets start from a zero classifier head (--head-init zero): with torchvision's init their 12-class
# logits start large, and from scratch they silence them by killing their features (top-1 stays at chance).
edgecv train efficientnet_lite0 --data shapes --epochs 20 --batch 32 --lr 2e-3 --head-init zero \
  --model-arg stochastic_depth_prob=0 --out "$out/efficientnet_lite0"
edgecv train mobilenet_v2 --data shapes --epochs 12 --batch 32 --lr 1.5e-3 --out "$out/mobilenet_v2"
edgecv train efficientnet_b0 --data shapes --epochs 20 --batch 32 --lr 2e-3 --head-init zero \
  --model-arg stochastic_depth_prob=0 --out "$out/efficientnet_b0"
edgecv train yolo_n --data shapes-det --epochs 20 --batch 32 --lr 1.5e-3 --from-scratch --out "$out/yolo_n"
# LR-ASPP starts its dilated backbone from mobilenet_v3_large's default weights (so it trains after them).
edgecv train lraspp_mobilenet_v3_large --data shapes-seg --epochs 24 --batch 16 --lr 2e-3 \
  --out "$out/lraspp_mobilenet_v3_large"
