"""How many CPU threads torch uses: `--threads N|auto` / `UNLEARN_THREADS`, else chosen from the cores this
process may use and how busy they are when it starts.

Why: on a busy machine torch's default (one OpenMP thread per core) is the slowest choice. OpenMP threads
spin while they wait for cores they do not get, so a 2-core machine with one other CPU-bound process ran
`unlearn demo --quick` about 10x slower than quiet (benchmarks/threads.py measures the alternatives).
`auto` takes the cores other work leaves free at start (at least one). The choice is made before torch is
imported (OMP_NUM_THREADS, which OpenMP and MKL read when they start) and said in every run's cost.json.
An OMP_NUM_THREADS the user set is kept unless --threads / UNLEARN_THREADS says otherwise.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

from unlearn.core.errors import ConfigError

ENV = "UNLEARN_THREADS"
_chosen: dict[str, object] = {}


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity (which taskset and containers narrow), and no
    more than a cgroup CPU quota allows."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    try:  # cgroup v2: "max 100000" (no quota) or "200000 100000" (two cores' worth)
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


def busy_cores(window_s: float = 0.2) -> float:
    """How many of this process's cores other work keeps busy now: /proc/stat sampled twice `window_s`
    apart (this process sleeps meanwhile). The load average would lag by a minute, and count a run that
    just ended. Where /proc/stat is missing: the one-minute load average."""
    try:
        cpus = os.sched_getaffinity(0)
        first = _cpu_times(cpus)
        time.sleep(window_s)
        second = _cpu_times(cpus)
    except (AttributeError, OSError, ValueError):
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):
            return 0.0
    return busy_between(first, second)


def busy_between(first: dict[int, tuple[int, int]], second: dict[int, tuple[int, int]]) -> float:
    """The busy share of each CPU between two /proc/stat readings ({cpu: (all ticks, idle ticks)}), summed."""
    busy = 0.0
    for cpu, (total, idle) in first.items():
        elapsed = second[cpu][0] - total
        if elapsed > 0:
            busy += (elapsed - (second[cpu][1] - idle)) / elapsed
    return busy


def _cpu_times(cpus: set[int]) -> dict[int, tuple[int, int]]:
    """{cpu: (all ticks, idle + iowait ticks)} from /proc/stat's per-CPU lines."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
            out[int(name[3:])] = (sum(ticks), ticks[3] + ticks[4])
    return out


def auto_threads(cores: int, busy: float) -> int:
    """The cores other work leaves free, rounded to the nearest whole core, at least one."""
    return max(1, min(cores, round(cores - busy)))


def parse_threads(text: str, where: str) -> int | None:
    """'auto' -> None (choose), a positive integer -> itself; anything else is a one-line error."""
    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{where}: {text!r} is not a number of threads; give a positive integer or 'auto'")
    return value


def choose_threads(requested: str | None) -> tuple[int, str]:
    """(threads, why) for this process: --threads, else UNLEARN_THREADS, else the user's OMP_NUM_THREADS,
    else auto."""
    for text, where in ((requested, "--threads"), (os.environ.get(ENV), ENV)):
        if text:
            value = parse_threads(text, where)
            if value is not None:
                return value, f"{where}={value}"
            return _auto(f"{where}=auto")
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:
        return int(omp), f"OMP_NUM_THREADS={omp} (set before the command)"
    return _auto("auto")


def _auto(label: str) -> tuple[int, str]:
    cores, busy = available_cores(), busy_cores()
    return auto_threads(cores, busy), f"{label}: {cores} cores, {busy:.1f} busy with other work at start"


def apply_threads(requested: str | None = None) -> tuple[int, str]:
    """Choose and apply the thread count: through OMP_NUM_THREADS before torch is imported, through
    torch.set_num_threads after. Returns (threads, why), which the run's cost record reports."""
    threads, why = choose_threads(requested)
    if "torch" in sys.modules:  # already started (the API, tests): set it for this process only
        sys.modules["torch"].set_num_threads(threads)
    else:  # read by OpenMP and MKL when torch starts, and by any process this one starts
        os.environ["OMP_NUM_THREADS"] = str(threads)
    _chosen.update(threads=threads, why=why)
    return threads, why


def thread_record() -> dict[str, object]:
    """The threads torch runs with in this process, and how they were chosen."""
    import torch

    return {"threads": torch.get_num_threads(), "threads_chosen_by": _chosen.get("why", "torch's default")}
