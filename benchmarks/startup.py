"""Start-up: seconds from launching a command to its first sign of work.

    python benchmarks/startup.py                 # tiny model on a small synthetic world (built once in --work)
    python benchmarks/startup.py --repeat 5 --work /tmp/startup

Measured, each `--repeat` times (median printed):
- `unlearn --help` until it exits;
- `unlearn eval MODEL --data WORLD --out OUT` until its first progress line (`eval: sample ...`; the
  progress prints its first line at the first finished batch), and until it exits;
- `python -c "import torch"` and `python -c "import transformers; transformers.AutoModelForCausalLM"`, the
  floor any command that loads a model pays.
Then the ten slowest imports of `unlearn eval` (`python -X importtime`, cumulative microseconds).
The evaluation cache is off (eval.cache=false), so every run evaluates.
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


def build(work: Path) -> tuple[Path, Path]:
    world, model = work / "world", work / "model"
    if not (model / "model.safetensors").is_file():
        subprocess.run([sys.executable, "-m", "unlearn", "world", "--out", str(world), "--people", "20",
                        "--general", "10"], check=True, capture_output=True)
        subprocess.run([sys.executable, "-m", "unlearn", "tiny-model", "--world", str(world), "--out", str(model),
                        "--vocab-size", "512", "--hidden-size", "64", "--layers", "1"], check=True,
                       capture_output=True)
    return world, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", help="folder for the world and the model (default: temporary)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="unlearn_startup_"))
    world, model = build(work)
    py = sys.executable
    evaluate = [py, "-m", "unlearn", "eval", str(model), "--data", str(world), "--out", str(work / "eval"),
                "eval.cache=false", "eval.max_new_tokens=8"]
    cases = {
        "unlearn --help (exit)": ([py, "-m", "unlearn", "--help"], None),
        "import torch": ([py, "-c", "import torch"], None),
        "import transformers + AutoModelForCausalLM": (
            [py, "-c", "import transformers; transformers.AutoModelForCausalLM"], None),
        "unlearn eval: first progress line": (evaluate, "eval: sample"),
    }
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
