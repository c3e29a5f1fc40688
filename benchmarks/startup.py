"""Start-up: seconds from launching a command to its first sign of work.

    python benchmarks/startup.py                 # tiny model on a small synthetic world (built once in --work)
    python benchmarks/startup.py --repeat 5 --work /tmp/startup
    python benchmarks/startup.py --sizes tiny,50m --model PATH [--gguf-file F]   # and larger models (slow)

Measured, each `--repeat` times (median printed):
- `unlearn --help` until it exits;
- `unlearn eval MODEL --data WORLD --out OUT` until its first progress line (`eval: sample ...`; the
  progress prints its first line at the first finished batch), and until it exits;
- `python -c "import torch"` and `python -c "import transformers; transformers.AutoModelForCausalLM"`, the
  floor any command that loads a model pays.
Then the ten slowest imports of `unlearn eval` (`python -X importtime`, cumulative microseconds).
The evaluation cache is off (eval.cache=false), so every run evaluates. `--sizes 50m` adds the same
`unlearn eval` on a 50M-parameter tiny model (hidden 640, 16 layers, as benchmarks/train_step.py builds it),
`--model` on any model folder (a GGUF file in it with `--gguf-file`): there loading the weights is most of it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def seconds_until(command: list[str], marker: str | None) -> tuple[float, float]:
    """(seconds until a stderr line containing `marker` appears (None: until exit), seconds until exit)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    first = None
    for line in proc.stderr:
        if first is None and marker and marker in line:
            first = time.perf_counter() - start
    proc.wait()
    total = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed (exit {proc.returncode})")
    return (first if first is not None else total), total


from train_step import SIZES as MODEL_SIZES  # noqa: E402  (the 50M model's one definition)

SIZES = {"tiny": ["--vocab-size", "512", "--hidden-size", "64", "--layers", "1"],
         "50m": [flag for key, value in MODEL_SIZES["50m"].items()
                 for flag in (f"--{key.replace('_', '-')}", str(value))]}
"""`unlearn tiny-model` flags: a 1-layer model (start-up is what is timed, not the model), or the 50M one."""


def build(work: Path, size: str) -> tuple[Path, Path]:
    world, model = work / "world", work / ("model" if size == "tiny" else f"model_{size}")
    if not (world / "forget10.json").is_file():
        subprocess.run([sys.executable, "-m", "unlearn", "world", "--out", str(world), "--people", "20",
                        "--general", "10"], check=True, capture_output=True)
    if not (model / "model.safetensors").is_file():
        subprocess.run([sys.executable, "-m", "unlearn", "tiny-model", "--world", str(world), "--out", str(model),
                        *SIZES[size]], check=True, capture_output=True)
    return world, model


def eval_command(model: str, world: Path, out: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "unlearn", "eval", model, "--data", str(world), "--out", str(out),
            "eval.cache=false", "eval.max_new_tokens=8", *extra]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", help="folder for the world and the model (default: temporary)")
    parser.add_argument("--sizes", default="tiny", help="tiny models to evaluate: tiny, 50m (comma-separated)")
    parser.add_argument("--model", help="also evaluate this model folder (slow for a real model)")
    parser.add_argument("--gguf-file", help="with --model: the GGUF file in it")
    args = parser.parse_args()
    sizes = args.sizes.split(",")
    unknown = [s for s in sizes if s not in SIZES]
    if unknown or "tiny" not in sizes:
        sys.exit(f"--sizes: choose from {', '.join(SIZES)}, tiny included (got {args.sizes!r})")
    if args.gguf_file and not args.model:
        sys.exit("--gguf-file needs --model (the folder that holds the file)")
    work = Path(args.work or tempfile.mkdtemp(prefix="unlearn_startup_"))
    built = {size: build(work, size) for size in sizes}
    world, model = built["tiny"]
    py = sys.executable
    evaluate = eval_command(str(model), world, work / "eval", [])
    cases = {
        "unlearn --help (exit)": ([py, "-m", "unlearn", "--help"], None),
        "import torch": ([py, "-c", "import torch"], None),
        "import transformers + AutoModelForCausalLM": (
            [py, "-c", "import transformers; transformers.AutoModelForCausalLM"], None),
        "unlearn eval: first progress line": (evaluate, "eval: sample"),
    }
    for size in sizes[1:]:
        cases[f"unlearn eval {size}: first progress line"] = (
            eval_command(str(built[size][1]), world, work / f"eval_{size}", []), "eval: sample")
    if args.model:
        extra = [f"model.gguf_file={args.gguf_file}"] if args.gguf_file else []
        cases[f"unlearn eval {Path(args.model).name}: first progress line"] = (
            eval_command(args.model, world, work / "eval_model", extra), "eval: sample")
    print(f"{args.repeat} runs each, median seconds ({os.environ.get('OMP_NUM_THREADS', 'default')} OMP threads)")
    for name, (command, marker) in cases.items():
        runs = [seconds_until(command, marker) for _ in range(args.repeat)]
        first = statistics.median(r[0] for r in runs)
        total = statistics.median(r[1] for r in runs)
        print(f"  {name:45s} {first:6.2f}" + (f"   (exit {total:.2f})" if marker else ""), flush=True)
    proc = subprocess.run([py, "-X", "importtime", *evaluate[1:]], capture_output=True, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line[len("import time:"):].split("|")
            if cumulative.strip().isdigit():
                rows.append((int(cumulative), name.rstrip()))
    print("slowest imports of `unlearn eval` (cumulative seconds):")
    for cumulative, name in sorted(rows, reverse=True)[:10]:
        print(f"  {cumulative / 1e6:6.2f}  {name}")


if __name__ == "__main__":
    main()
