"""Gradient checkpointing: peak memory and step time of the same run with and without it.

    python benchmarks/checkpointing.py                       # the 50M tiny model, GA_GDR, batch 16 + 16
    python benchmarks/checkpointing.py --size tiny --batch-size 8
    python benchmarks/checkpointing.py --model PATH [--gguf-file F]   # any causal LM (SmolLM2: slow)

Each configuration is one `unlearn unlearn` run in its own process (a process's peak resident memory is a
high-water mark, so runs must not share one). Printed: the run's peak memory from its cost.json (the
process's resident set on CPU, the largest GPU allocation on a GPU), seconds per step from its log, and
the ratios. On CPU the resident set includes the interpreter, torch and the model (paid by both runs
alike), so the ratio of the peaks understates what checkpointing saves of the activations; the
difference is printed too.
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
from train_step import SIZES, build  # noqa: E402


def run(model: str, world: Path, out: Path, args: argparse.Namespace, checkpointing: bool) -> tuple[float, float]:
    """(peak MiB, seconds per step) of one run."""
    overrides = [f"out={out}", f"model.path={model}", f"data.path={world}", "method.name=GA_GDR",
                 f"train.max_steps={args.steps}", f"train.batch_size={args.batch_size}", "train.lr=1e-5",
                 "eval.enabled=false", f"data.max_length={args.max_length}"]
    if args.gguf_file:
        overrides.append(f"model.gguf_file={args.gguf_file}")
    if checkpointing:
        overrides.append("train.gradient_checkpointing=true")
    proc = subprocess.run([sys.executable, "-m", "unlearn", "unlearn", *overrides], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0:
        sys.exit(f"run failed:\n{proc.stderr[-2000:]}")
    cost = json.loads((out / "cost.json").read_text())
    memory = cost["memory"]
    peak = max(memory["gpu_max_allocated_mib"]) if memory.get("gpu_max_allocated_mib") else memory["cpu_peak_rss_mib"]
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return peak, (log[-1]["elapsed_s"] - log[0]["elapsed_s"]) / max(len(log) - 1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="50m", choices=list(SIZES))
    parser.add_argument("--model", help="a model folder instead of a tiny model")
    parser.add_argument("--gguf-file")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--work", help="folder for the world, the model and the runs (default: temporary)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="unlearn_ckpt_"))
    world, tiny = build(work, args.size)
    model = args.model or str(tiny)
    print(f"GA_GDR on {args.model or args.size}, batch {args.batch_size} forget + {args.batch_size} retain, "
          f"{args.steps} steps; {os.environ.get('OMP_NUM_THREADS', 'default')} OMP threads")
    results = {}
    for checkpointing in (False, True):
        out = work / f"run_{'ckpt' if checkpointing else 'plain'}_{time.time_ns()}"
        results[checkpointing] = run(model, world, out, args, checkpointing)
        peak, step = results[checkpointing]
        print(f"  gradient checkpointing {'on ' if checkpointing else 'off'}: peak {peak:8.0f} MiB, {step:6.3f} s/step")
    (plain_peak, plain_step), (ckpt_peak, ckpt_step) = results[False], results[True]
    print(f"peak off / on: {plain_peak / ckpt_peak:.2f}x ({plain_peak - ckpt_peak:.0f} MiB less with it); "
          f"step time on / off: {ckpt_step / plain_step:.2f}x")


if __name__ == "__main__":
    main()
