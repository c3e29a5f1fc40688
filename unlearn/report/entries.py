"""What a report is made of: one entry per model, read from its run or evaluation folder.

A folder holds metrics.json (values, each key's direction of "better", the datasets' roles, the
suites), optionally samples.jsonl, config.yaml (a run's method), run.json, calibration.json,
robustness.json and cost.json. The method is kept as the kind of unlearning it does (unlearn.report.method_kinds),
which is what the report's verdicts go by; the run's name is only a label."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from unlearn.core.errors import ConfigError, UnlearnError
from unlearn.core.files import read_json, read_json_lines, read_utf8
from unlearn.eval.results import read_metrics
from unlearn.report.method_kinds import MethodKind, kind_of


@dataclass
class Entry:
    name: str
    role: str
    """method, original (the model before unlearning) or retrained (never saw the forget set)."""
    folder: Path
    metrics: dict[str, Any]
    directions: dict[str, str] = field(default_factory=dict)
    """The direction of "better" of each key, as the evaluation wrote it ("lower is better")."""
    higher_is_better: dict[str, bool | None] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    """Dataset name -> its role (forget, retain, holdout, general)."""
    suites: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    """The evaluation's settings (eval_config) and the model it scored ("model")."""
    samples: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    """run.json, calibration.json, robustness.json and cost.json (unlearn.core.cost) when present."""
    kind: MethodKind | None = None
    """What the run's method does; None for references, evaluation folders and unreadable configs."""
    method_problem: str | None = None
    """Why the method could not be read, when it could not."""
    error: str | None = None
    """The run failed: no metrics, this message instead."""

    @property
    def ok(self) -> bool:
        return self.error is None


def load_entry(folder: str | Path, role: str = "method", name: str | None = None) -> Entry:
    """An entry from a folder; its name is `name`, else the role for the references and the folder's
    name for a method."""
    folder = Path(folder)
    if not (folder / "metrics.json").is_file():
        raise ConfigError(f"{folder} has no metrics.json; give a run folder (unlearn unlearn) or an evaluation "
                          "folder (unlearn eval --out)")
    data = read_metrics(folder / "metrics.json", "re-run the step that wrote it (`unlearn eval MODEL --out FOLDER`)")
    samples = folder / "samples.jsonl"
    rows = read_json_lines(samples, "re-run the evaluation that wrote it") if samples.is_file() else []
    extra = {f: read_json(folder / f"{f}.json", "re-run the step that wrote it")
             for f in ("run", "calibration", "robustness", "cost") if (folder / f"{f}.json").is_file()}
    entry = Entry(name or (folder.name if role == "method" else role), role, folder, data["metrics"],
                  data.get("directions", {}), data.get("higher_is_better", {}), data.get("roles", {}),
                  list(data.get("suites", [])), data.get("notes", {}),
                  {"eval_config": data.get("eval_config", {}), "model": data.get("model")}, rows, extra)
    if role == "method":
        entry.kind, entry.method_problem = _method_kind(folder)
    return entry


def failed_entry(name: str, folder: str | Path, error: str, method: str | None = None) -> Entry:
    """A method that did not finish: listed with its error, so a report never drops a run silently."""
    from unlearn.config import MethodConfig

    kind = kind_of(MethodConfig(name=method)) if method else None
    return Entry(name, "method", Path(folder), {}, kind=kind, error=error)


def left_out(entries: list[Entry]) -> list[str]:
    """The method runs that sections going by the method cannot place, each with the reason."""
    return [f"- {e.name} is left out: {e.method_problem}." for e in entries
            if e.role == "method" and e.kind is None and e.method_problem]


def _method_kind(folder: Path) -> tuple[MethodKind | None, str | None]:
    """The kind of the method in the run's config.yaml. An evaluation folder has none; a config this
    version cannot read leaves the run out of the method-based sections (which say so), not the report."""
    from unlearn.config import MethodConfig, from_dict

    path = folder / "config.yaml"
    if not path.is_file():
        return None, "no config.yaml (an evaluation folder)"
    try:
        method = (yaml.safe_load(read_utf8(path)) or {}).get("method") or {}
        return kind_of(from_dict(MethodConfig, method, "method")), None
    except (UnlearnError, yaml.YAMLError, AttributeError) as err:
        return None, f"its config.yaml names no method this version knows ({str(err).splitlines()[0]})"
