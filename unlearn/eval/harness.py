"""General ability through the lm-evaluation-harness (optional extra: `pip install "unlearnkit[harness]"`).

`eval.harness_tasks=[mmlu, gsm8k]` runs those tasks on the evaluated model (the model object itself,
no second load) with `lm_eval.simple_evaluate` and reports each task's numbers as
`harness_<task>_<metric>`, higher is better. The harness reads its data sets through `datasets`; with no
network they must be in the local Hugging Face cache, or the task must point at local files: put task
YAMLs in a folder and set `eval.harness_include` to it (a task with `dataset_path: json` and
`dataset_kwargs: {data_files: ...}` reads local JSON). A task that cannot load is a one-line error.
"""

from __future__ import annotations

from typing import Any

from unlearn.core.errors import ConfigError, DataError
from unlearn.eval.registry import HIGHER, Direction


def run_harness(model: Any, tokenizer: Any, tasks: list[str], include: str | None = None, limit: int | None = None,
                batch_size: int = 8) -> dict[str, tuple[float | None, Direction]]:
    try:
        import lm_eval
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise ConfigError("eval.harness_tasks needs the lm-evaluation-harness: pip install \"unlearnkit[harness]\"") from None
    device = str(next(model.parameters()).device)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=device)
    manager = TaskManager(include_path=include) if include else TaskManager()
    try:
        out = lm_eval.simple_evaluate(model=lm, tasks=list(tasks), limit=limit, task_manager=manager,
                                      log_samples=False, bootstrap_iters=0)
    except Exception as err:  # noqa: BLE001 - unknown task, data not available offline, ...
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"lm-evaluation-harness tasks {tasks}: {type(err).__name__}: {first}; check the task names "
                        "and that their data is local (eval.harness_include for your own task files)") from None
    values: dict[str, tuple[float | None, Direction]] = {}
    for task, results in (out or {}).get("results", {}).items():
        for key, value in results.items():
            metric, _, filt = key.partition(",")
            if metric.endswith("_stderr") or not isinstance(value, (int, float)) or metric == "alias":
                continue
            suffix = "" if filt in ("", "none") else f"_{filt}"
            values[f"harness_{task}_{metric}{suffix}"] = (float(value), HIGHER)
    return values
