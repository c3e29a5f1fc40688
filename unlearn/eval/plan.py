"""What an evaluation scores: for each dataset, the metrics that apply to it and the token sequences
and generation prompts those metrics read, each encoded once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from unlearn.core.cache import digest
from unlearn.data.adapters import EvalData
from unlearn.data.tokenize import PromptFormatter
from unlearn.eval.metrics import METRICS
from unlearn.eval.registry import Metric


@dataclass
class DatasetPlan:
    data: EvalData
    metrics: list[Metric]
    ids: list[str]
    """One id per record: a digest of its canonical content (how a reference's samples are matched)."""
    sequences: list[dict[str, dict[str, list[int]]]] = field(default_factory=list)
    prompts: list[list[int] | None] = field(default_factory=list)

    def passes(self) -> set[str]:
        return set().union(*(m.passes() for m in self.metrics)) if self.metrics else set()


def _encode_record(fmt: PromptFormatter, data: EvalData, record: dict[str, Any], wanted: set[str],
                   max_length: int) -> dict[str, dict[str, list[int]]]:
    """The teacher-forced sequences of one record that the dataset's metrics read."""
    kind, out = data.kind, {}
    if kind == "qa":
        q, c = record["question"], record.get("context", "")
        if "answer" in wanted:
            out["answer"] = fmt.encode(q, record["answer"], max_length, c)
        if "paraphrased" in wanted and record.get("paraphrased_answer"):
            out["paraphrased"] = fmt.encode(q, record["paraphrased_answer"], max_length, c)
        if "perturbed" in wanted:
            for j, p in enumerate(record.get("perturbed_answer") or []):
                out[f"perturbed/{j}"] = fmt.encode(q, p, max_length, c)
    elif kind == "completion":
        out["answer"] = fmt.encode_raw(record["question"], record["answer"], max_length)
    elif kind == "text":
        out["answer"] = fmt.encode_raw("", record["text"], max_length)
    elif kind == "choice":
        for j, choice in enumerate(record["choices"]):
            out[f"choice/{j}"] = fmt.encode(record["question"], str(choice), max_length)
    return out


def _prompt(fmt: PromptFormatter, data: EvalData, record: dict[str, Any]) -> list[int] | None:
    if data.kind == "qa":
        return fmt.prompt_ids(record["question"], record.get("context", ""))
    if data.kind == "completion":
        return fmt.prompt_ids_raw(record["question"])
    return None


def plan(fmt: PromptFormatter, datasets: Sequence[EvalData], metric_names: Sequence[str],
         max_length: int) -> list[DatasetPlan]:
    """Which metrics apply to which dataset, and the sequences and prompts to score."""
    plans = []
    for data in datasets:
        metrics = [m for m in (METRICS.get(n) for n in metric_names)
                   if m.applies(data.kind, data.role, data.alternatives)]
        p = DatasetPlan(data, metrics, [digest(r) for r in data.records])
        wanted = {s for m in metrics for s in m.sequences}
        needs_seqs = bool({"teacher_forced", "gradient", "reference", "prefix_generation"} & p.passes())
        needs_gen = bool({"generation", "scorer", "external"} & p.passes())
        for r in data.records:
            p.sequences.append(_encode_record(fmt, data, r, wanted, max_length) if needs_seqs else {})
            p.prompts.append(_prompt(fmt, data, r) if needs_gen else None)
        plans.append(p)
    return plans
