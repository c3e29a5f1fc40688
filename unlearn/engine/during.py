"""Evaluation during training: chosen metrics every `eval.every_steps` optimizer steps, written as a
curve (`curve.jsonl` in the run folder), and an optional rule that keeps the model of the first
evaluation meeting it (`eval.keep_best`, e.g. "forget_knowmem<=retain": the first step at which forget
KnowMem falls to the retain model's level) in `best/`, with `best.json` saying which step and why.

The datasets are encoded once; every evaluation runs the same shared passes as `unlearn eval`, without
the cache (the weights change at every step). It runs on the main process while the others wait, on
the unwrapped model, so it needs weights that are not sharded (not ZeRO-3 / FSDP).
"""

from __future__ import annotations

import json
import operator
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from unlearn.config import RunConfig
from unlearn.core.atomic import json_line
from unlearn.core.device import is_main_process
from unlearn.core.errors import ConfigError
from unlearn.core.files import drop_rows_after

DEFAULT_METRICS = ["prob", "rougeL_recall"]
DEFAULT_SETS = ["forget", "retain"]
_RULE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(<=|>=|<|>)\s*(\S+)\s*$")
_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


@dataclass
class Rule:
    key: str
    op: str
    threshold: float
    text: str

    def met(self, values: dict[str, Any]) -> bool:
        value = values.get(self.key)
        return value is not None and _OPS[self.op](value, self.threshold)


def parse_rule(text: str, retain_values: dict[str, Any] | None) -> Rule:
    """'KEY<=NUMBER' or 'KEY<=retain' (the retain model's value of KEY, from eval.retain_reference)."""
    m = _RULE.match(text)
    if not m:
        raise ConfigError(f"eval.keep_best {text!r} is not a rule; write METRIC<=VALUE, e.g. "
                          "forget_rougeL_recall<=0.2 or forget_knowmem<=retain")
    key, op, raw = m.groups()
    if raw == "retain":
        if not retain_values:
            raise ConfigError(f"eval.keep_best {text!r} compares with the retain model: set eval.retain_reference "
                              "to the folder of its evaluation")
        if retain_values.get(key) is None:
            raise ConfigError(f"eval.keep_best: the retain model's evaluation has no value of {key!r}; "
                              f"it has {', '.join(sorted(retain_values))}")
        return Rule(key, op, float(retain_values[key]), text)
    try:
        return Rule(key, op, float(raw), text)
    except ValueError:
        raise ConfigError(f"eval.keep_best {text!r}: {raw!r} is neither a number nor 'retain'") from None


def evaluation_due(every: int, step: int, total: int) -> bool:
    """Whether the evaluation during training runs after `step` of `total`: every `every` steps (0: never)
    and after the last. Every process asks, so they all reach the evaluation's barrier together."""
    return every > 0 and (step % every == 0 or step == total)


class DuringEval:
    """Evaluates the model being trained every `every` steps: under several processes each scores its share
    of each pass (unlearn.eval.evaluator); the main one writes the curve and keeps best/."""

    def __init__(self, cfg: RunConfig, bench: Any, tokenizer: Any, formatter: Any, run_dir: Path, limit: Any):
        """`limit`: the samples' length limit (models.loading.ContextLimit), as in training."""
        from unlearn.eval.evaluator import settings_from_config
        from unlearn.eval.plan import plan

        self.cfg, self.tokenizer, self.formatter, self.run_dir = cfg, tokenizer, formatter, run_dir
        metrics = cfg.eval.during_metrics or DEFAULT_METRICS
        datasets = bench.eval_data(cfg.eval.splits or DEFAULT_SETS)
        before = len(formatter.cut_lengths)
        self.plans = plan(formatter, datasets, metrics, limit.tokens)
        limit.report(formatter.cut_lengths[before:], sum(len(s) for p in self.plans for s in p.sequences),
                     "the evaluation sets during training")
        if not any(p.metrics for p in self.plans):
            raise ConfigError(f"eval.during_metrics {metrics} apply to none of the sets "
                              f"{[d.name for d in datasets]}; choose metrics of those sets' kind")
        # the evaluation's own settings, cut to the model's context and without the cache (the weights move)
        self.settings = replace(settings_from_config(cfg), max_length=limit.tokens, cache_dir=None)
        retain_values = _retain_values(cfg.eval.retain_reference)
        self.rule = parse_rule(cfg.eval.keep_best, retain_values) if cfg.eval.keep_best else None
        self.curve = run_dir / "curve.jsonl"
        self.best_file = run_dir / "best.json"

    def evaluate(self, model: Any, step: int) -> dict[str, Any]:
        from unlearn.eval.evaluator import Evaluator, compute_metrics

        views = Evaluator(model, self.tokenizer, self.formatter, self.settings).run(self.plans)
        _, values = compute_metrics(self.plans, views, None)
        entry = {"step": step, **{k: (None if v is None else round(v, 6)) for k, v in values.items()}}
        from unlearn.core.atomic import disk_errors

        if is_main_process():
            with disk_errors(str(self.curve)), self.curve.open("a") as f:
                f.write(json_line(entry) + "\n")
        return entry

    def keep_if_best(self, entry: dict[str, Any], save: Any) -> bool:
        """Save the model (via `save(folder)`) the first time the rule is met."""
        if not is_main_process() or self.rule is None or self.best_file.is_file() or not self.rule.met(entry):
            return False
        from unlearn.core.atomic import write_json

        save(self.run_dir / "best")
        write_json(self.best_file, {"step": entry["step"], "rule": self.rule.text, "threshold": self.rule.threshold,
                                    "values": entry})
        return True


def _retain_values(folder: str | None) -> dict[str, Any] | None:
    if not folder:
        return None
    path = Path(folder) / "metrics.json"
    if not path.is_file():
        raise ConfigError(f"eval.retain_reference: {str(path)!r} does not exist; evaluate the retain model first")
    from unlearn.eval.results import read_metrics

    return read_metrics(path, "evaluate the retain model there again")["metrics"]


def truncate_curve(run_dir: Path, step: int) -> None:
    """On resume: drop curve points after the checkpoint, and a best/ kept after it."""

    drop_rows_after(run_dir / "curve.jsonl", step)
    best = run_dir / "best.json"
    if best.is_file() and json.loads(best.read_text()).get("step", 0) > step:
        import shutil

        best.unlink()
        shutil.rmtree(run_dir / "best", ignore_errors=True)
