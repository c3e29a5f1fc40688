"""What a run cost: `cost.json` in its folder and one line at its end.

Wall time per phase (load, reference, train, checkpoint, evaluate, save), tokens per second trained and
scored, peak memory (the process's CPU resident set; the largest GPU allocation per device), and the
forward and backward passes by stream. Training writes the file; an evaluation into the same folder adds
its phase and what it scored. Only the attempt that finished is counted: a resumed run says where it
resumed from.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from unlearn.core.atomic import disk_errors, write_json

COST_FILE = "cost.json"
MIB = 2 ** 20


class CostMeter:
    """Phase timers and pass counters of one process."""

    def __init__(self) -> None:
        self.own_peak = reset_peak_memory()  # False: memory figures are the process's peak so far
        self.seconds: Counter[str] = Counter()
        self.forward: Counter[str] = Counter()  # forward passes of the trained model, by stream(s) it took
        self.reference: Counter[str] = Counter()  # forward passes of a reference model, by stream
        self.backward: Counter[str] = Counter()  # backward passes, by gradient group
        self.tokens: Counter[str] = Counter()  # non-padding tokens through the trained model, by stream
        self.scored_tokens = 0  # evaluation: tokens of the sequences scored (cached ones cost nothing)
        self.scored_sequences = 0
        self.generated_answers = 0

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block and add it to `name` (a phase met twice, e.g. checkpoints, adds up)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def count_forward(self, streams: str, tokens: dict[str, int], reference: list[str]) -> None:
        """One forward pass of the trained model over `streams` ("forget+retain" when their batches went in
        together), the non-padding tokens of each stream, and the streams given a reference pass."""
        self.forward[streams] += 1
        self.tokens.update(tokens)
        self.reference.update(reference)

    def count_backward(self, group: str) -> None:
        self.backward[group] += 1

    def count_scored(self, sequences: list[list[int]]) -> None:
        self.scored_sequences += len(sequences)
        self.scored_tokens += sum(len(s) for s in sequences)

    def counters(self) -> dict[str, dict[str, int]]:
        return {"forward": dict(self.forward), "reference_forward": dict(self.reference),
                "backward": dict(self.backward), "tokens": dict(self.tokens)}


def reset_peak_memory() -> bool:
    """Start counting peaks afresh, so a run that shares its process with earlier ones (the demo, a sweep,
    the API) reports its own: Linux resets the resident-set high-water mark on writing 5 to
    /proc/self/clear_refs; CUDA resets its allocator's peaks. False where the resident set's cannot be
    reset (the figure is then the process's peak so far)."""
    import torch

    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            torch.cuda.reset_peak_memory_stats(i)
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _rss_high_water_mib() -> float:
    """VmHWM of /proc/self/status (what clear_refs resets), else getrusage's maximum (never reset)."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)  # kB
    except (OSError, ValueError, IndexError):
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(rss / (MIB if sys.platform == "darwin" else 1024), 1)


def peak_memory() -> dict[str, Any]:
    """The peak resident set (MiB) since the last reset_peak_memory and, with CUDA, the largest allocation on
    each GPU (MiB)."""
    import torch

    out: dict[str, Any] = {"cpu_peak_rss_mib": _rss_high_water_mib()}
    if torch.cuda.is_available():
        out["gpu_max_allocated_mib"] = [round(torch.cuda.max_memory_allocated(i) / MIB, 1)
                                        for i in range(torch.cuda.device_count())]
    return out


def per_second(count: float, seconds: float) -> float | None:
    return round(count / seconds, 1) if seconds > 0 else None


def training_record(meter: CostMeter, counters: dict[str, dict[str, int]], memory: dict[str, Any],
                    info: dict[str, Any]) -> dict[str, Any]:
    """cost.json's content for a training run: `counters` and `memory` are over all processes."""
    trained = sum(counters["tokens"].values())
    return {
        **info,
        "phases_s": {k: round(v, 2) for k, v in meter.seconds.items()},
        "total_s": round(sum(meter.seconds.values()), 2),
        "tokens_trained": trained,
        "tokens_per_s_trained": per_second(trained, meter.seconds.get("train", 0.0)),
        "passes": {k: counters[k] for k in ("forward", "reference_forward", "backward")},
        "tokens_by_stream": counters["tokens"],
        "memory": {**memory, "peak_since": "the run's start" if meter.own_peak else "the process's start"},
    }


def add_evaluation(folder: str | Path, meter: CostMeter) -> dict[str, Any]:
    """Add an evaluation's phase and what it scored to the folder's cost.json (made when absent)."""
    path = Path(folder) / COST_FILE
    try:
        record = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        record = {}
    seconds = meter.seconds.get("evaluate", 0.0)
    phases = {**record.get("phases_s", {}), "evaluate": round(seconds, 2)}
    from unlearn.core.threads import thread_record

    for key, value in thread_record().items():
        record.setdefault(key, value)  # a training run's own record stands
    record.update({
        "phases_s": phases,
        "total_s": round(sum(phases.values()), 2),
        "evaluation": {"sequences_scored": meter.scored_sequences, "tokens_scored": meter.scored_tokens,
                       "tokens_per_s_scored": per_second(meter.scored_tokens, seconds),
                       "answers_generated": meter.generated_answers},
    })
    merged = dict(record.get("memory", {}))
    for key, value in peak_memory().items():  # the training's figures stand; an evaluation alone gives its own
        merged["evaluate_" + key] = value
        merged.setdefault(key, value)
    record["memory"] = merged
    with disk_errors(str(path)):
        write_json(path, record)
    return record


def cost_line(record: dict[str, Any]) -> str:
    """One line: total and per-phase seconds, tokens/s, peak memory, passes by stream."""
    phases = ", ".join(f"{k} {v:.1f}" for k, v in record.get("phases_s", {}).items() if v >= 0.05)
    parts = [f"cost: {record.get('total_s', 0):.1f} s ({phases})"]
    if record.get("tokens_per_s_trained"):
        parts.append(f"{record['tokens_per_s_trained']:,.0f} tokens/s trained")
    evaluation = record.get("evaluation") or {}
    if evaluation.get("tokens_per_s_scored"):
        parts.append(f"{evaluation['tokens_per_s_scored']:,.0f} tokens/s scored")
    memory = record.get("memory", {})
    if memory.get("cpu_peak_rss_mib"):
        parts.append(f"peak RSS {memory['cpu_peak_rss_mib'] / 1024:.2f} GiB")
    if memory.get("gpu_max_allocated_mib"):
        parts.append("GPU peak " + "/".join(f"{m / 1024:.2f}" for m in memory["gpu_max_allocated_mib"]) + " GiB")
    passes = record.get("passes", {})
    if passes.get("forward"):
        streams = ", ".join(f"{s} {n}" for s, n in passes["forward"].items())
        ref = sum(passes.get("reference_forward", {}).values())
        parts.append(f"forward passes {streams}" + (f" (+{ref} reference)" if ref else ""))
    if record.get("threads"):
        parts.append(f"{record['threads']} thread" + ("s" if record["threads"] != 1 else ""))
    if record.get("reference"):
        parts.append(f"reference: {record['reference']}")
    return "; ".join(parts)
