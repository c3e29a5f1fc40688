"""Sequential deletion requests: unlearning applied to a series of forget sets, each on the model the
previous request produced. After every request the model is measured on every forget set asked so far
and on the retain set, so the matrix shows whether earlier deletions hold and how utility erodes.

Each request is a forget split, with a slice if needed (`forget10[:5]`, `forget10[5:10]`): every
request is one run folder (`OUT/request1`, `OUT/request2`, ...), resumed or reused like any run.
Row 0 is the model before any request.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from unlearn.config import RunConfig
from unlearn.core.errors import ConfigError
from unlearn.core.formatting import fmt, markdown_table
from unlearn.eval.metrics import label_of
from unlearn.eval.registry import result_key

METRICS = ("prob", "rougeL_recall")


def _measure(model_path: str, cfg: RunConfig, requests: list[str], after: str) -> dict[str, dict[str, float | None]]:
    """{set: {metric: value}} for request1..requestN (their forget sets) and retain."""
    from unlearn.core.device import device
    from unlearn.data.benchmarks import benchmark_from_config
    from unlearn.eval.evaluator import evaluate_model
    from unlearn.models import load_model, load_tokenizer
    from unlearn.models.loading import saved_model_config

    model_cfg = replace(cfg.model, path=model_path) if model_path == cfg.model.path else saved_model_config(cfg, model_path)
    datasets = []
    for i, split in enumerate(requests, 1):
        bench = benchmark_from_config(replace(cfg.data, forget_split=split))
        forget = next(d for d in bench.eval_data() if d.role == "forget")
        datasets.append(replace(forget, name=f"request{i}"))
    retain = next(d for d in bench.eval_data(["retain"]))
    eval_cfg = replace(cfg, eval=replace(cfg.eval, suites=[], metrics=list(METRICS), splits=[]))
    metrics = evaluate_model(load_model(model_cfg).eval().to(device()), load_tokenizer(model_cfg), eval_cfg, bench,
                             datasets=[*datasets, retain], label=f"sequence, after {after}")[0]["metrics"]
    return {d.name: {m: metrics.get(result_key(d.name, m)) for m in METRICS} for d in [*datasets, retain]}


def sequential(cfg: RunConfig, requests: list[str], out: str | Path) -> dict[str, Any]:
    """Run every request in order and measure after each (module docstring). Writes OUT/sequence.json."""
    from unlearn.core.atomic import write_json
    from unlearn.data.benchmarks import benchmark_from_config
    from unlearn.engine import train
    from unlearn.engine.before import check_before_loading
    from unlearn.models.loading import saved_model_config

    if len(requests) < 2:
        raise ConfigError("sequential deletions need at least two requests, e.g. --requests 'forget10[:5],forget10[5:10]'")
    for split in requests:  # every request names data that exists, before any training
        benchmark_from_config(replace(cfg.data, forget_split=split)).load(split)
    out = Path(out)
    rows = [{"after": "original", "model": cfg.model.path, "sets": _measure(cfg.model.path, cfg, requests, "original")}]
    model = cfg.model.path
    for i, split in enumerate(requests, 1):
        step = replace(cfg, out=str(out / f"request{i}"),
                       model=replace(cfg.model, path=model) if i == 1 else saved_model_config(cfg, model),
                       data=replace(cfg.data, forget_split=split), eval=replace(cfg.eval, enabled=False))
        check_before_loading(step)
        model = str(train(step).model_dir)
        rows.append({"after": f"request{i}", "split": split, "model": model, "sets": _measure(model, cfg, requests, f"request{i}")})
    result = {"requests": requests, "method": cfg.method.name, "metrics": list(METRICS), "rows": rows}
    write_json(out / "sequence.json", result)
    return result


def sequence_table(result: dict[str, Any], metric: str = "rougeL_recall") -> str:
    """Rows: after each request; columns: each request's forget set and the retain set. A forget set
    not yet requested shows in brackets: the model has not been asked to forget it."""
    n = len(result["requests"])
    head = ["after", *(f"request{j} ({s})" for j, s in enumerate(result["requests"], 1)), "retain"]
    rows = []
    for i, row in enumerate(result["rows"]):
        cells = [fmt(row["sets"][f"request{j}"][metric]) if j <= i else f"[{fmt(row['sets'][f'request{j}'][metric])}]"
                 for j in range(1, n + 1)]
        rows.append([row["after"], *cells, fmt(row["sets"]["retain"][metric])])
    title = f"{label_of(metric)} ({metric}) after each deletion request ({result['method']}); [brackets]: not requested yet"
    return title + "\n\n" + markdown_table(head, rows)
