"""A training run's cost.json (unlearn.core.cost), over all of its processes: passes and tokens summed,
peak memory the largest of any process, phases as the main process timed them."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

from unlearn.core.atomic import disk_errors, write_json
from unlearn.core.cost import COST_FILE, CostMeter, cost_line, peak_memory, training_record
from unlearn.engine.collective import on_main


def _all_processes(accelerator: Any, meter: CostMeter) -> tuple[dict[str, dict[str, int]], dict[str, Any]]:
    own = (meter.counters(), peak_memory())
    if accelerator.num_processes == 1:
        return own
    from accelerate.utils import gather_object

    gathered = gather_object([own])
    counters: dict[str, Counter[str]] = {}
    for process_counters, _ in gathered:
        for kind, by_stream in process_counters.items():
            counters.setdefault(kind, Counter()).update(by_stream)
    memory: dict[str, Any] = {"cpu_peak_rss_mib": max(m["cpu_peak_rss_mib"] for _, m in gathered),
                              "cpu_peak_rss_mib_by_process": [m["cpu_peak_rss_mib"] for _, m in gathered]}
    gpu = [m["gpu_max_allocated_mib"] for _, m in gathered if "gpu_max_allocated_mib" in m]
    if gpu:  # each process sees its own device first; keep the largest figure per device
        memory["gpu_max_allocated_mib"] = [max(col) for col in zip(*gpu)]
    return {k: dict(v) for k, v in counters.items()}, memory


def _write(run_dir: Path, record: dict[str, Any]) -> None:
    with disk_errors(str(run_dir / COST_FILE)):
        write_json(run_dir / COST_FILE, record)
    print(cost_line(record), file=sys.stderr)


def write_training_cost(accelerator: Any, run_dir: Path, meter: CostMeter, info: dict[str, Any]) -> None:
    """Every process takes part (the counters are gathered); the main one writes cost.json and its line."""
    counters, memory = _all_processes(accelerator, meter)
    on_main(accelerator, _write, run_dir, training_record(meter, counters, memory, info))
