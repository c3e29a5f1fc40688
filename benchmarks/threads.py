"""CPU thread policies on a quiet and on a busy machine: wall time of one `unlearn` command under each.

    python benchmarks/threads.py                                  # unlearn demo --quick --methods GA_GDR
    python benchmarks/threads.py --full-demo                      # unlearn demo --quick (every method)
    python benchmarks/threads.py --policies auto,default --repeat 2

Each policy runs the same command twice: quiet, and with one competing CPU-bound process (a Python
loop, started a second before and killed after). Policies:

- default: as many threads as cores (torch's own default on a machine like this: `--threads N`);
- one: `--threads 1`;
- auto: nothing set, so `unlearn` chooses (unlearn.core.threads: the cores other work leaves free);
- passive: as many threads as cores with OMP_WAIT_POLICY=PASSIVE (OpenMP threads sleep instead of
  spinning while they wait).

It prints each run's wall time, busy / quiet per policy (the slowdown another process causes), and each
run against auto's quiet time. Each run is a fresh output folder (nothing reused); the evaluation cache
is per run. Run it on an otherwise idle machine: the "quiet" runs assume nothing else runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POLICIES = ("default", "one", "auto", "passive")


def policy_env(policy: str, cores: int) -> tuple[list[str], dict[str, str]]:
    """(extra arguments, environment) of one policy."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "UNLEARN_THREADS", "OMP_WAIT_POLICY")}
    if policy == "default":
        return ["--threads", str(cores)], env
    if policy == "one":
        return ["--threads", "1"], env
    if policy == "passive":
        return ["--threads", str(cores)], {**env, "OMP_WAIT_POLICY": "PASSIVE"}
    return [], env


def run_once(command: list[str], policy: str, busy: bool, work: Path, cores: int) -> float:
    args, env = policy_env(policy, cores)
    out = work / f"{policy}_{'busy' if busy else 'quiet'}_{time.time_ns()}"
    env["UNLEARN_CACHE"] = str(out / "cache")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        if spinner:
            time.sleep(1.0)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "unlearn", *args, *command, "--out", str(out)], env=env,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
    finally:
        if spinner:
            spinner.kill()
            spinner.wait()
    if proc.returncode != 0:
        sys.exit(f"{policy} ({'busy' if busy else 'quiet'}) failed:\n{proc.stderr[-2000:]}")
    chosen = next((line for line in proc.stderr.splitlines() if "threads" in line and line.startswith("cost:")), "")
    print(f"  {policy:8s} {'busy' if busy else 'quiet':6s} {seconds:7.1f} s   {chosen[-60:]}", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--full-demo", action="store_true", help="every demo method, not only GA_GDR")
    parser.add_argument("--work", default=None, help="folder for the runs (default: a temporary one)")
    args = parser.parse_args()
    policies = args.policies.split(",")
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        sys.exit(f"unknown policy {unknown[0]!r}; choose from {', '.join(POLICIES)}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    command = ["demo", "--quick"] + ([] if args.full_demo else ["--methods", "GA_GDR"])
    work = Path(args.work or tempfile.mkdtemp(prefix="unlearn_threads_"))
    print(f"unlearn {' '.join(command)} on {cores} cores; policies {', '.join(policies)}; {args.repeat} repeat(s)")
    times: dict[tuple[str, bool], list[float]] = {}
    for _ in range(args.repeat):  # interleaved, so a drift in the machine's state hits every policy alike
        for policy in policies:
            for busy in (False, True):
                times.setdefault((policy, busy), []).append(run_once(command, policy, busy, work, cores))
    median = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    base = median.get(("auto", False))
    print(f"\n{'policy':8s} {'quiet s':>8s} {'busy s':>8s} {'busy/quiet':>10s}" + ("  quiet/auto  busy/auto-quiet"
                                                                              if base else ""))
    for policy in policies:
        quiet, busy = median[(policy, False)], median[(policy, True)]
        line = f"{policy:8s} {quiet:8.1f} {busy:8.1f} {busy / quiet:10.2f}"
        if base:
            line += f"  {quiet / base:10.2f}  {busy / base:14.2f}"
        print(line)


if __name__ == "__main__":
    main()
