"""`unlearn eval` below the CLI: check the request before any model loads, load the model and the
side models its metrics need, evaluate (`unlearn.eval.evaluator`), run model-level suites, and write
`metrics.json` (aggregates, each with its direction: higher, lower or closest to a value, and
what it was computed from) and `samples.jsonl` (per-sample values with each sample's id, generations
included) into the output folder, and adds the evaluation's phase to its cost.json (unlearn.core.cost).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from unlearn.config import RunConfig
from unlearn.core.atomic import check_writable, disk_errors, json_line, write_json, write_text
from unlearn.core.cost import CostMeter, add_evaluation, cost_line
from unlearn.core.device import device as choose_device
from unlearn.core.device import is_main_process
from unlearn.core.errors import ConfigError, UnlearnError, warn
from unlearn.core.files import write_library_warnings
from unlearn.data.benchmarks import Benchmark, benchmark_from_config
from unlearn.eval.evaluator import evaluate_model
from unlearn.eval.results import ModelResults, check_reference_samples
from unlearn.eval.suites import select, suites_of


def write_eval(out: str | Path, metrics: dict[str, Any], samples: list[dict[str, Any]]) -> None:
    out = Path(out)
    with disk_errors(f"the evaluation results in {out}"):
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "metrics.json", metrics)
        write_text(out / "samples.jsonl", "".join(json_line(row) + "\n" for row in samples))
    write_library_warnings(out)


def _add_model_level(metrics: dict[str, Any], suites: list, cfg: RunConfig, path: str) -> None:
    """Suites that examine the whole model after the metrics (the robustness probes, registered by
    unlearn.evidence): their values, directions and notes join the evaluation's."""
    for s in suites:
        if s.needs_original and not cfg.eval.original_model:
            metrics["notes"][s.name] = "not computed: set eval.original_model (the model before unlearning)"
            continue
        for key, (value, direction, note) in s.on_model(cfg, path).items():
            metrics["metrics"][key] = value
            metrics["directions"][key] = direction.label()
            metrics["higher_is_better"][key] = direction.higher_is_better()
            if note:
                metrics["notes"][key] = note


def _add_collateral(metrics: dict[str, Any], cfg: RunConfig, path: str, request: tuple, meter: CostMeter) -> None:
    """With eval.original_model (an unlearning run sets it to the model it started from): the same
    evaluation of the original, and each set's share kept (unlearn.eval.collateral) in metrics.json;
    a warning names the held-out sets that lost as much as the forget set."""
    from unlearn.eval.collateral import collateral
    from unlearn.models import load_model, load_tokenizer
    from unlearn.models.loading import model_spec

    original = cfg.eval.original_model
    if not original or model_spec(original)[0] == path:
        return
    bench, reference, parts, datasets = request
    folder, gguf_file = model_spec(original)
    original_cfg = replace(cfg.model, path=folder, tokenizer=None, gguf_file=gguf_file)
    model = load_model(original_cfg).to(choose_device()).eval()
    before = evaluate_model(model, load_tokenizer(original_cfg), cfg, bench, reference, parts, None, datasets,
                            label="eval original", meter=meter)[0]
    record = collateral(metrics["metrics"], before["metrics"], metrics["roles"])
    metrics["collateral"] = {"original_model": original, **record}
    if record["damaged"]:
        warn(f"{', '.join(record['damaged'])}, data no method trains on, lost as large a share of its score as the "
             "forget set did: collateral damage the retain set does not show (metrics.json's collateral lists "
             "every set before and after)")


def check_eval_request(cfg: RunConfig, bench: Benchmark) -> tuple[list, ModelResults | None]:
    """Everything that can be wrong with an evaluation request, checked before any model loads (and, for
    `unlearn unlearn` / `finetune`, before training): an unknown suite or metric, bad evaluation data, a
    reference evaluated on other samples. Returns (the evaluation sets, the reference results)."""
    selection = select(suites_of(cfg.eval.suites, cfg.data.benchmark), cfg.eval.metrics)
    datasets = bench.eval_data(cfg.eval.splits or None)
    reference = ModelResults.from_folder(cfg.eval.retain_reference) if cfg.eval.retain_reference else None
    if reference is not None:
        check_reference_samples(datasets, reference, selection.derived)
    _check_side_models(cfg)
    return datasets, reference


def _check_side_models(cfg: RunConfig) -> None:
    """The other models an evaluation names exist and are safe to load (nothing is loaded here)."""
    from unlearn.models.loading import check_model_files, model_spec

    for key in ("retain_model", "original_model", "reference_model", "scorer_model"):
        spec = getattr(cfg.eval, key)
        if key == "original_model" and spec and model_spec(spec)[0] == cfg.model.path:
            continue  # the run's own starting model: checked where training loads it
        if spec:
            path, gguf_file = model_spec(spec) if key in ("scorer_model", "original_model") else (spec, None)
            try:
                check_model_files(replace(cfg.model, path=path, tokenizer=None, gguf_file=gguf_file))
            except UnlearnError as err:
                raise ConfigError(f"eval.{key}: {err}") from None
    from unlearn.generate.spec import check_spec, judge_spec

    for key, task in (("judge_model", "rate answers"), ("entity_model", "list entities")):
        if getattr(cfg.eval, key):
            check_spec(judge_spec(getattr(cfg.eval, key), f"eval.{key}", task))


def evaluate(cfg: RunConfig, model_path: str | None = None, out: str | Path | None = None) -> dict[str, Any]:
    """Load a model (default model.path), evaluate it with the configured suites, write the results."""
    from unlearn.models.loading import check_model_files

    path = model_path or cfg.model.path
    model_cfg = replace(cfg.model, path=path)
    bench = benchmark_from_config(cfg.data)
    datasets, reference = check_eval_request(cfg, bench)
    check_model_files(model_cfg)
    out = out or cfg.out
    check_writable(out)  # a folder that cannot take the results fails now, not after the evaluation
    meter = CostMeter()
    with meter.phase("evaluate"):
        metrics, samples = _evaluate(cfg, model_cfg, (bench, reference, datasets), meter)
    if is_main_process():  # under a launch every process scored its share; one writes the results
        write_eval(out, metrics, samples)
        with disk_errors(f"the evaluation results in {out}"):
            print(cost_line(add_evaluation(out, meter)), file=sys.stderr)
    return metrics


def _evaluate(cfg: RunConfig, model_cfg: Any, request: tuple, meter: CostMeter
              ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The model, its side models and its metrics (model-level suites and the original's included)."""
    from unlearn.eval.parts import load_parts, load_side_model
    from unlearn.models import load_model, load_tokenizer
    from unlearn.models.loading import check_vocabulary

    bench, reference, datasets = request
    path = str(model_cfg.path)
    tokenizer = load_tokenizer(model_cfg)
    model = load_model(model_cfg)
    check_vocabulary(model, tokenizer, model_cfg)
    device = choose_device()
    model.to(device)
    parts = load_parts(cfg, device)
    retain = load_side_model(cfg, cfg.eval.retain_model, tokenizer, device, "eval.retain_model") \
        if cfg.eval.retain_model else None
    metrics, samples = evaluate_model(model, tokenizer, cfg, bench, reference, parts, retain, datasets, meter=meter)
    del model  # the original, when compared, is loaded next
    _add_collateral(metrics, cfg, path, (bench, reference, parts, datasets), meter)
    _add_model_level(metrics, select(suites_of(cfg.eval.suites, cfg.data.benchmark), cfg.eval.metrics).model_level,
                     cfg, path)
    metrics["model"] = path
    metrics["eval_config"] = dataclasses.asdict(cfg.eval)
    return metrics, samples
